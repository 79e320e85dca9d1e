"""ovq: take a trained model to a fast, verified OpenVINO deployment on Intel CPUs.

The public API, each stage a plain function (no files, no globals, no hidden session):

    export_model(source, example_input=..., input_shapes=...) -> ov.Model
    quantize(model, calibration_items, subset_size=..., preset=..., model_type=..., ignored_scope=...) -> ov.Model
    compile_model(model, hint=..., inference_precision=..., ...) -> CompiledVariant
    evaluate(compiled, items, metric) -> float
    benchmark(compiled, inputs=None, duration_s=..., iterations=...) -> BenchmarkResult
    run_pipeline(path_or_config, output_dir=...) -> report dict

Names are re-exported lazily from an explicit table, so `import ovq` (and `ovq --help`) stays fast: the
heavy libraries load only when a function that needs them is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "export_model": "ovq.stages.export",
    "read_model_file": "ovq.stages.export",
    "quantize": "ovq.stages.quantize",
    "make_ignored_scope": "ovq.stages.quantize",
    "compile_model": "ovq.stages.compile",
    "CompiledVariant": "ovq.stages.compile",
    "evaluate": "ovq.stages.evaluate",
    "infer_outputs": "ovq.stages.evaluate",
    "benchmark": "ovq.stages.benchmark",
    "benchmark_interleaved": "ovq.stages.benchmark",
    "BenchmarkResult": "ovq.stages.benchmark",
    "run_pipeline": "ovq.pipeline",
    "load_pipeline": "ovq.config",
    "PipelineConfig": "ovq.config",
    "MetricSpec": "ovq.config",
    "resolve_metric": "ovq.metrics",
    "Metric": "ovq.metrics",
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
    from ovq.config import MetricSpec, PipelineConfig, load_pipeline
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
    from ovq.metrics import Metric, resolve_metric
    from ovq.pipeline import run_pipeline
    from ovq.stages.benchmark import BenchmarkResult, benchmark, benchmark_interleaved
    from ovq.stages.compile import CompiledVariant, compile_model
    from ovq.stages.evaluate import evaluate, infer_outputs
    from ovq.stages.export import export_model, read_model_file
    from ovq.stages.quantize import make_ignored_scope, quantize
