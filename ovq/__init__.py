"""ovq: take a trained model to a fast, verified OpenVINO deployment on Intel CPUs.

The public API, each stage a plain function (no files, no globals, no hidden session):

    export_model(source, example_input=..., input_shapes=...) -> ov.Model
    quantize(model, calibration_items, subset_size=..., preset=..., model_type=..., ignored_scope=...) -> ov.Model
    compile_model(model, hint=..., inference_precision=..., ...) -> CompiledVariant
    evaluate(compiled, items, metric) -> float
    benchmark(compiled, inputs=None, duration_s=..., iterations=...) -> BenchmarkResult
    benchmark_matrix({name: model}, matrix_cells(hint=[...], batch=[...]), ...) -> MatrixResult
    run_pipeline(path_or_config, output_dir=...) -> report dict
    prepare_qat / train_qat / export_qat / save_qat_checkpoint / load_qat_checkpoint: QAT from training code

Names are re-exported lazily from an explicit table, so `import ovq` (and `ovq --help`) stays fast: the
heavy libraries load only when a function that needs them is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "export_model": "ovq.runtime.convert",
    "read_model_file": "ovq.runtime.convert",
    "quantize": "ovq.compression.ptq",
    "make_ignored_scope": "ovq.compression.ptq",
    "compile_model": "ovq.runtime.compile",
    "CompiledVariant": "ovq.runtime.compile",
    "evaluate": "ovq.benchmarking.accuracy",
    "infer_outputs": "ovq.runtime.infer",
    "benchmark": "ovq.benchmarking.engine",
    "benchmark_interleaved": "ovq.benchmarking.engine",
    "BenchmarkResult": "ovq.benchmarking.engine",
    "benchmark_matrix": "ovq.benchmarking.matrix",
    "matrix_cells": "ovq.benchmarking.matrix",
    "prepare_qat": "ovq.compression.qat.functions",
    "export_qat": "ovq.compression.qat.functions",
    "save_qat_checkpoint": "ovq.compression.qat.functions",
    "load_qat_checkpoint": "ovq.compression.qat.functions",
    "train_qat": "ovq.compression.qat.train",
    "QatResult": "ovq.compression.qat.train",
    "QatBudgetError": "ovq.compression.qat.train",
    "run_pipeline": "ovq.pipeline.runner",
    "load_pipeline": "ovq.config.schema",
    "PipelineConfig": "ovq.config.schema",
    "MetricSpec": "ovq.config.schema",
    "resolve_metric": "ovq.inputs.metrics",
    "preprocess_image": "ovq.inputs.images",
    "load_image_items": "ovq.inputs.images",
    "ImagePreprocess": "ovq.config.images",
    "Metric": "ovq.inputs.metrics",
    "OvqError": "ovq.errors",
    "ConfigError": "ovq.errors",
    "StageError": "ovq.errors",
    "AccuracyBudgetError": "ovq.errors",
    "PerformanceGateError": "ovq.errors",
    "InputFileError": "ovq.errors",
    "ModelFormatError": "ovq.errors",
    "DataMismatchError": "ovq.errors",
    "DependencyError": "ovq.errors",
    "RegressionError": "ovq.errors",
}

__all__ = ["__version__", *_EXPORTS]

# OpenVINO's and NNCF's usage telemetry forks from a thread and can hang the process at exit (see the module).
from ovq.runtime.telemetry import silence_vendor_telemetry  # noqa: E402

silence_vendor_telemetry()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ovq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from ovq.benchmarking.accuracy import evaluate
    from ovq.benchmarking.engine import BenchmarkResult, benchmark, benchmark_interleaved
    from ovq.benchmarking.matrix import benchmark_matrix, matrix_cells
    from ovq.compression.ptq import make_ignored_scope, quantize
    from ovq.compression.qat.functions import export_qat, load_qat_checkpoint, prepare_qat, save_qat_checkpoint
    from ovq.compression.qat.train import QatBudgetError, QatResult, train_qat
    from ovq.config.images import ImagePreprocess
    from ovq.config.schema import MetricSpec, PipelineConfig, load_pipeline
    from ovq.errors import (
        AccuracyBudgetError,
        ConfigError,
        DataMismatchError,
        DependencyError,
        InputFileError,
        ModelFormatError,
        OvqError,
        PerformanceGateError,
        RegressionError,
        StageError,
    )
    from ovq.inputs.images import load_image_items, preprocess_image
    from ovq.inputs.metrics import Metric, resolve_metric
    from ovq.pipeline.runner import run_pipeline
    from ovq.runtime.compile import CompiledVariant, compile_model
    from ovq.runtime.convert import export_model, read_model_file
    from ovq.runtime.infer import infer_outputs
