"""Baselines: what a user would run instead of ovq, measured with the same inputs and report fields.

Alternatives that sit beside ovq's variants in the comparison table:

- ``pytorch_eager``: the ``torch.nn.Module`` itself, eager mode on the CPU, under ``torch.inference_mode()``
  with torch's intra-op threads set to the number of usable cores.
- ``onnxruntime_fp32``: the FP32 ONNX model in ONNX Runtime's CPU execution provider.
- ``onnxruntime_int8``: ONNX Runtime's own static INT8 quantization of that model (``quantize_static``,
  QDQ format, per-channel weights, u8 activations / s8 weights as ORT recommends for VNNI CPUs, MinMax
  calibration over the same calibration inputs ovq's quantizer sees).
- ``litert``: a .tflite model in LiteRT's Interpreter (ovq.benchmarking.litert), XNNPACK on the CPU.

How they are measured, and why. Each baseline is driven the way its users drive it: one model object (or
one ``InferenceSession`` with ``intra_op_num_threads`` = usable cores and default graph optimisations), and
synchronous calls in a loop, one input at a time. Neither library has an asynchronous request queue that a
typical user reaches for, so this single-stream loop *is* their throughput. The metrics use OpenVINO
benchmark_app's definitions so the numbers line up with ovq's own benchmark stage:

- ``first_inference_ms``: the first call after loading, reported apart and not part of the statistics.
  ``DEFAULT_WARMUP_ITERATIONS`` more untimed calls follow, because torch and ORT keep allocating and
  caching kernels over their first few calls (OpenVINO does that work in compile/first inference); this
  can only flatter the baselines, never ovq.
- ``count``: calls in the measured window; ``duration_s``: wall time from the first call's start to the
  last call's end; ``throughput_fps`` = count / duration_s (benchmark_app's sync-mode formula).
- Latency percentiles use benchmark_app's nearest-rank definition: sorted[ceil(n * p / 100) - 1].
- With ``repeats`` > 1, the windows are folded by the benchmark stage's ``combine_runs``: medians across
  repeats, ``spread`` = (max - min) / median of the per-repeat throughputs, ``noisy`` when the spread is
  above the stage's threshold.

torch and onnxruntime are imported lazily; a missing onnxruntime raises ``DependencyError`` with a hint.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.benchmarking.sync_loop import (
    Measurement,
    ModelInputs,
    _as_array_list,
    _first_call_then_warm_up,
    _measure_loop,
    usable_cores,
)
from ovq.errors import ConfigError, DataMismatchError, DependencyError, StageError
from ovq.runtime.artifacts import atomic_path

if TYPE_CHECKING:
    import torch

BASELINE_KINDS: tuple[str, ...] = ("pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8", "litert")


def summarize(
    measurements: Sequence[Measurement],
    *,
    first_inference_ms: float | None,
    compile_ms: float | None,
    num_threads: int,
    inference_precision: str,
) -> dict[str, Any]:
    """Turn measured windows into the report contract's ``benchmark`` dict (single stream, sync calls).

    Each window becomes one ovq ``BenchmarkResult`` and the windows are folded by the benchmark stage's own
    ``combine_runs``, so repeats, medians, spread and the noisy flag mean exactly what they mean for the
    OpenVINO variants.
    """
    from ovq.benchmarking.engine import REPORTED_PERCENTILES, BenchmarkResult, combine_runs, percentile
    from ovq.runtime.resources import cpu_count

    windows = [m for m in measurements if m.count]
    if not windows:
        raise ValueError("no measured iterations")
    results = []
    for window in windows:
        times = sorted(window.latencies_ms)
        latency_ms = {
            "median": percentile(times, 50),
            "average": statistics.fmean(times),
            "min": times[0],
            "max": times[-1],
            **{f"p{p}": percentile(times, p) for p in REPORTED_PERCENTILES},
        }
        results.append(
            BenchmarkResult(
                # A synchronous single-stream loop is the latency-hint shape: one request in flight.
                hint="latency",
                inference_precision=inference_precision,
                num_requests=1,
                num_streams=1,
                num_threads=num_threads,
                count=window.count,
                duration_s=window.duration_s,
                throughput_fps=window.throughput_fps,
                latency_ms=latency_ms,
                latency_percentiles_ms=[percentile(times, p) for p in range(101)],
                first_inference_ms=first_inference_ms,
                compile_ms=compile_ms,
                throughput_fps_runs=[window.throughput_fps],
                api="sync",
                cpu_utilisation=window.cpu_s / window.duration_s / cpu_count() if window.duration_s else None,
            )
        )
    combined = combine_runs(results)
    return {**combined.to_dict(), "api": "sync", "cpu_utilisation": combined.cpu_utilisation}


class TorchEagerRunner:
    """A ``torch.nn.Module`` in eager mode on the CPU, called synchronously with fixed inputs.

    Torch's global intra-op thread count is set to ``num_threads`` (default: usable cores) while the
    runner measures and restored afterwards.
    """

    runtime = "pytorch"
    inference_precision = "f32"

    def __init__(self, module: torch.nn.Module, inputs: ModelInputs, *, num_threads: int | None = None) -> None:
        import torch

        self.module = module.eval()
        self.num_threads = num_threads or usable_cores()
        self._tensors = [torch.from_numpy(np.asarray(a, order="C")) for a in _as_array_list(inputs)]
        self.compile_ms: float | None = None
        self.first_inference_ms: float | None = None

    def _call(self) -> object:
        import torch

        with torch.inference_mode():
            return self.module(*self._tensors)

    def infer(self, inputs: ModelInputs) -> list[np.ndarray]:
        """Run the module once on `inputs` and return its outputs as numpy arrays."""
        import torch

        tensors = [torch.from_numpy(np.asarray(a, order="C")) for a in _as_array_list(inputs)]
        with torch.inference_mode():
            outputs = self.module(*tensors)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return [o.detach().numpy() for o in outputs]

    def measure(self, *, duration_s: float | None = None, iterations: int | None = None) -> Measurement:
        """Measure one window (first call and warm-up happen once, on the first measurement)."""
        import torch

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            if self.first_inference_ms is None:
                self.first_inference_ms = _first_call_then_warm_up(self._call)
            return _measure_loop(self._call, duration_s=duration_s, iterations=iterations)
        finally:
            torch.set_num_threads(previous_threads)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise DependencyError(
            "the ONNX Runtime baselines need the onnxruntime package, which is not installed",
            hint="pip install onnxruntime (where ovq is installed), or drop the onnxruntime baselines",
        ) from error
    return onnxruntime


class OnnxRuntimeRunner:
    """One ONNX Runtime ``InferenceSession`` on the CPU provider, ``run()`` called in a loop.

    This is how ORT is used in practice: a single session, sequential execution, intra-op threads = usable
    cores, default (all) graph optimisations, which fuse QDQ pairs into integer kernels for INT8 models.
    """

    runtime = "onnxruntime"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        inputs: ModelInputs,
        *,
        num_threads: int | None = None,
        inference_precision: str = "f32",
    ) -> None:
        ort = _import_onnxruntime()
        self.model_path = Path(model_path)
        self.num_threads = num_threads or usable_cores()
        self.inference_precision = inference_precision
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        start = time.perf_counter()
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            raise StageError(
                f"ONNX Runtime could not load {self.model_path}: {error}",
                hint="check that the file is a complete ONNX model supported by the installed onnxruntime",
                stage="baselines",
            ) from error
        self.compile_ms: float | None = (time.perf_counter() - start) * 1000.0
        self.first_inference_ms: float | None = None
        self._feed = self.feed(inputs)

    def feed(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """Map `inputs` onto the session's input names (by name for a mapping, else by position)."""
        names = [i.name for i in self.session.get_inputs()]
        if isinstance(inputs, Mapping) and set(inputs) == set(names):
            return {name: np.asarray(inputs[name], order="C") for name in names}
        arrays = _as_array_list(inputs)
        if len(arrays) != len(names):
            raise DataMismatchError(
                f"the ONNX model expects {len(names)} input(s) {names}, got {len(arrays)}",
                stage="baselines",
            )
        return {name: np.asarray(array, order="C") for name, array in zip(names, arrays, strict=True)}

    def infer(self, inputs: ModelInputs) -> list[np.ndarray]:
        """Run the session once on `inputs` and return its outputs."""
        return [np.asarray(o) for o in self.session.run(None, self.feed(inputs))]

    def _call(self) -> object:
        return self.session.run(None, self._feed)

    def measure(self, *, duration_s: float | None = None, iterations: int | None = None) -> Measurement:
        """Measure one window (first call and warm-up happen once, on the first measurement)."""
        if self.first_inference_ms is None:
            self.first_inference_ms = _first_call_then_warm_up(self._call)
        return _measure_loop(self._call, duration_s=duration_s, iterations=iterations)


Runner = Any  # TorchEagerRunner | OnnxRuntimeRunner | LiteRtRunner (ovq.benchmarking.litert): measure() + fields


def measure(
    runner: Runner, *, duration_s: float | None = 10.0, iterations: int | None = None, repeats: int = 1
) -> dict[str, Any]:
    """Measure `runner` `repeats` times and return the contract's ``benchmark`` dict."""
    windows = [runner.measure(duration_s=duration_s, iterations=iterations) for _ in range(max(1, repeats))]
    return summarize(
        windows,
        first_inference_ms=runner.first_inference_ms,
        compile_ms=runner.compile_ms,
        num_threads=runner.num_threads,
        inference_precision=runner.inference_precision,
    )


def export_onnx(
    module: torch.nn.Module, example_inputs: ModelInputs, path: str | os.PathLike[str], *, opset: int = 17
) -> Path:
    """Export `module` to an FP32 ONNX file with static shapes (TorchScript exporter; no onnxscript here)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _as_array_list(example_inputs)
    tensors = tuple(torch.from_numpy(np.asarray(a, order="C")) for a in arrays)
    names = list(example_inputs) if isinstance(example_inputs, Mapping) else None
    try:
        with atomic_path(path, suffix=".onnx") as temporary, warnings.catch_warnings():
            # The legacy exporter warns that it is legacy; the dynamo one needs onnxscript, absent here.
            # Only that notice is silenced: any other deprecation still reaches the caller.
            warnings.filterwarnings(
                "ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning
            )
            torch.onnx.export(
                module.eval(),
                tensors,
                str(temporary),
                dynamo=False,
                opset_version=opset,
                input_names=names,
                do_constant_folding=True,
            )
    except Exception as error:
        raise StageError(f"ONNX export for the baselines failed: {error}", stage="baselines") from error
    return path


def quantize_onnxruntime_int8(
    onnx_path: str | os.PathLike[str],
    calibration_inputs: Iterable[ModelInputs],
    output_path: str | os.PathLike[str],
    *,
    per_channel: bool = True,
    preprocess: bool = True,
) -> Path:
    """ONNX Runtime's static INT8 quantization of `onnx_path` (QDQ, per-channel, u8 activations/s8 weights).

    `calibration_inputs` yields one model input set per item (an array, a sequence in input order, or a
    name->array mapping). ORT's recommended pre-processing (shape inference and graph optimisation) runs
    first; if it fails the model is quantized as it is.
    """
    ort = _import_onnxruntime()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = Path(onnx_path)
    output = Path(output_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    del session

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._items = iter(calibration_inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._items, None)
            if item is None:
                return None
            if isinstance(item, Mapping):
                return {name: np.asarray(item[name], order="C") for name in names}
            arrays = _as_array_list(item)
            return {name: np.asarray(a, order="C") for name, a in zip(names, arrays, strict=True)}

    prepared = output.with_name(output.stem + ".preprocessed.onnx")
    model_to_quantize = source
    if preprocess:
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            model_to_quantize = prepared
        except Exception:  # pre-processing is an optimisation; the plain model still quantizes
            prepared.unlink(missing_ok=True)
    try:
        with atomic_path(output, suffix=".onnx") as temporary:
            quantize_static(
                str(model_to_quantize),
                str(temporary),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=False,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
    except Exception as error:
        raise StageError(f"ONNX Runtime static quantization failed: {error}", stage="baselines") from error
    finally:
        prepared.unlink(missing_ok=True)
    return output


def _module_size_bytes(module: torch.nn.Module) -> int:
    return int(sum(t.numel() * t.element_size() for t in module.state_dict().values()))


def _variant(
    name: str,
    precision: str,
    runtime: str,
    model_path: Path | None,
    size_bytes: int,
    benchmark: dict[str, Any],
) -> dict[str, Any]:
    return {
        "name": name,
        "precision": precision,
        "source": None,
        "baseline": True,
        "runtime": runtime,
        "model_path": str(model_path) if model_path is not None else None,
        "size_bytes": size_bytes,
        "size_ratio": None,
        "compile": None,
        "accuracy": None,
        "benchmark": benchmark,
        "execution_precision": None,
    }


def baseline_variants(
    *,
    inputs: ModelInputs,
    work_dir: str | os.PathLike[str],
    module: torch.nn.Module | None = None,
    onnx_path: str | os.PathLike[str] | None = None,
    tflite_path: str | os.PathLike[str] | None = None,
    calibration_inputs: Iterable[ModelInputs] | None = None,
    kinds: Sequence[str] = BASELINE_KINDS[:3],
    duration_s: float | None = 10.0,
    iterations: int | None = None,
    repeats: int = 1,
    num_threads: int | None = None,
    reference_size_bytes: int | None = None,
) -> list[dict[str, Any]]:
    """Build and measure the requested baselines; return report-contract variant dicts.

    `module` is needed for ``pytorch_eager`` (and to export ONNX when `onnx_path` is not given);
    `calibration_inputs` for ``onnxruntime_int8``; `tflite_path` for ``litert``. ONNX files are written
    under `work_dir`. `size_ratio` is filled against `reference_size_bytes` (the FP32 IR's size) when given.
    """
    unknown = sorted(set(kinds) - set(BASELINE_KINDS))
    if unknown:
        raise ConfigError(f"unknown baseline kinds {unknown}", hint=f"allowed: {', '.join(BASELINE_KINDS)}")
    work = Path(work_dir)
    variants: list[dict[str, Any]] = []
    if "pytorch_eager" in kinds:
        if module is None:
            raise ConfigError(
                "the pytorch_eager baseline needs the torch module",
                hint="use a torch model source or drop it",
            )
        runner = TorchEagerRunner(module, inputs, num_threads=num_threads)
        stats = measure(runner, duration_s=duration_s, iterations=iterations, repeats=repeats)
        variants.append(_variant("pytorch_eager", "fp32", "pytorch", None, _module_size_bytes(module), stats))
    wants_ort = [k for k in kinds if k.startswith("onnxruntime")]
    if wants_ort:
        _import_onnxruntime()
        if onnx_path is None:
            if module is None:
                raise ConfigError(
                    "the ONNX Runtime baselines need an ONNX file or the torch module to export",
                    hint="use a torch or ONNX model source, or drop the onnxruntime baselines",
                )
            onnx_path = export_onnx(module, inputs, work / "baseline_fp32.onnx")
        fp32_path = Path(onnx_path)
        if "onnxruntime_fp32" in kinds:
            ort_runner = OnnxRuntimeRunner(fp32_path, inputs, num_threads=num_threads)
            stats = measure(ort_runner, duration_s=duration_s, iterations=iterations, repeats=repeats)
            variants.append(
                _variant("onnxruntime_fp32", "fp32", "onnxruntime", fp32_path, _file_size(fp32_path), stats)
            )
        if "onnxruntime_int8" in kinds:
            if calibration_inputs is None:
                raise ConfigError(
                    "the onnxruntime_int8 baseline needs calibration inputs",
                    hint="name a calibration dataset for the baselines",
                )
            int8_path = quantize_onnxruntime_int8(fp32_path, calibration_inputs, work / "baseline_int8.onnx")
            ort_runner = OnnxRuntimeRunner(int8_path, inputs, num_threads=num_threads, inference_precision="int8")
            stats = measure(ort_runner, duration_s=duration_s, iterations=iterations, repeats=repeats)
            variant = _variant("onnxruntime_int8", "int8", "onnxruntime", int8_path, _file_size(int8_path), stats)
            variant["source"] = "onnxruntime_fp32"
            variants.append(variant)
    if "litert" in kinds:
        if tflite_path is None:
            raise ConfigError("the litert baseline needs a .tflite model", hint="use model.tflite or drop it")
        from ovq.benchmarking.litert import LiteRtRunner

        lite_runner = LiteRtRunner(tflite_path, inputs, num_threads=num_threads)
        stats = measure(lite_runner, duration_s=duration_s, iterations=iterations, repeats=repeats)
        variants.append(_variant("litert", "fp32", "litert", Path(tflite_path), _file_size(Path(tflite_path)), stats))
    if reference_size_bytes:
        for variant in variants:
            variant["size_ratio"] = variant["size_bytes"] / reference_size_bytes
    return variants


def _file_size(path: Path) -> int:
    # An ONNX model over 2 GB keeps its weights in side files next to it; count them too.
    data_files = [p for p in path.parent.glob(path.name + ".data") if p.is_file()]
    return path.stat().st_size + sum(p.stat().st_size for p in data_files)
