"""Where a compiled model spends its time: OpenVINO's per-layer performance counters, summarised.

The counters are collected on a short run of their own, on a model compiled with ``PERF_COUNT`` enabled
(counting costs a little on every layer, so a timed benchmark never runs with it). Each executed layer of
the runtime graph gets its kernel (``exec_type``, e.g. ``brgconv_avx512_amx_I8``), the precision it ran in
(from the runtime graph, see :mod:`ovq.runtime.execution_precision`) and its real time, the median over the
profiled inferences.

The summary answers "why is this variant fast or slow": the top layers, time by executed precision, the
time spent in Reorder/Convert (layout and precision conversions the plugin inserts, often around int8
layers) and in quantized operations that fell back to floating point, and, given the profile of the same
model at the plugin's default precision, whether each quantized operation ran faster than there.

Example::

    compiled = compile_for_profiling("model_int8.xml", {"PERFORMANCE_HINT": "THROUGHPUT"})
    profile = collect_profile(compiled, {"x": batch}, iterations=10)
    summary = summarize_profile(profile, quantized=quantized_operations(ov.Core().read_model("model_int8.xml")))
    print(summary["by_precision"], summary["top_layers"][0])
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.runtime.execution_precision import COMPUTE_LAYER_TYPES, kernel_precision

if TYPE_CHECKING:
    import numpy as np
    import openvino as ov

#: Layers whose only job is to convert layouts or precisions between the layers that compute.
CONVERSION_LAYER_TYPES = frozenset({"Reorder", "Convert"})
#: IR operations that, given low-precision inputs, the CPU plugin can run as int8 kernels.
_QUANTIZABLE_IR_TYPES = frozenset({"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"})
#: Operations a dequantization or weight-layout chain is built of (walked through to find the quantizer).
_CHAIN_IR_TYPES = frozenset({"Convert", "Subtract", "Multiply", "Reshape", "Transpose", "Unsqueeze", "Squeeze"})
#: Operations quantized activations pass through unchanged in precision (the quantizer sits before them).
_ACTIVATION_PASS_TYPES = _CHAIN_IR_TYPES | frozenset(
    {"MaxPool", "Concat", "Split", "VariadicSplit", "StridedSlice", "Slice", "Gather", "Pad", "DepthToSpace"}
)
_LPT_SUFFIX = "/Dequantization"
_LOW_PRECISION_CONSTANTS = frozenset({"u8", "i8", "u4", "i4", "nf4", "f4e2m1"})
_NON_COMPUTING_TYPES = frozenset({"Input", "Output", "Const", "Parameter", "Result", "Constant"})
#: Compute layer kinds as the runtime graph names them beyond COMPUTE_LAYER_TYPES (quantized variants).
_COMPUTE_PREFIXES = ("Convolution", "FullyConnected", "MatMul", "GroupConvolution", "Deconvolution")


@dataclasses.dataclass
class LayerTime:
    """One executed layer of the runtime graph and its median real time per inference."""

    name: str
    layer_type: str
    exec_type: str
    precision: str
    ms: float
    #: IR operations fused into this layer (the plugin's ``originalLayersNames``).
    original_names: list[str] = dataclasses.field(default_factory=list)
    #: Runtime-graph names of the layers feeding this one, and of those it feeds.
    inputs: list[str] = dataclasses.field(default_factory=list)
    outputs: list[str] = dataclasses.field(default_factory=list)

    @property
    def is_compute(self) -> bool:
        return self.layer_type in COMPUTE_LAYER_TYPES or self.layer_type.startswith(_COMPUTE_PREFIXES)

    @property
    def is_conversion(self) -> bool:
        return self.layer_type in CONVERSION_LAYER_TYPES


@dataclasses.dataclass
class LayerProfile:
    """Per-layer times of one compiled model, from ``iterations`` profiled inferences."""

    layers: list[LayerTime]
    iterations: int
    inference_precision: str | None
    #: Wall time the profiling took: compile (when measured by the caller) plus the profiled inferences.
    wall_s: float = 0.0
    num_streams: int | None = None
    num_threads: int | None = None

    @property
    def total_ms(self) -> float:
        return sum(layer.ms for layer in self.layers)

    def by_name(self) -> dict[str, LayerTime]:
        """Layers by runtime name and by every IR operation fused into them."""
        index: dict[str, LayerTime] = {}
        for layer in self.layers:
            for name in [layer.name, *layer.original_names]:
                index.setdefault(name, layer)
                # Low-precision transformations rename a quantized MatMul "X/DequantizationMultiply".
                index.setdefault(name.split(_LPT_SUFFIX)[0], layer)
        return index


def compile_for_profiling(
    model: ov.Model | str | Path, config: Mapping[str, Any] | None = None, *, device: str = "CPU"
) -> ov.CompiledModel:
    """Compile ``model`` with ``config`` plus ``PERF_COUNT`` enabled: a compiled model of its own, for profiling."""
    import openvino as ov

    properties = {**dict(config or {}), "PERF_COUNT": True}
    return ov.Core().compile_model(str(model) if isinstance(model, Path) else model, device, properties)


def collect_profile(
    compiled_model: ov.CompiledModel,
    inputs: Mapping[Any, np.ndarray] | Sequence[np.ndarray] | None,
    *,
    iterations: int = 10,
    warmup_iterations: int = 1,
    min_seconds: float = 0.25,
    max_iterations: int = 200,
    max_seconds: float = 2.0,
) -> LayerProfile:
    """Run ``compiled_model`` (compiled with ``PERF_COUNT``) a few times on one request and read its counters.

    The counters describe the last inference only, so they are read after each one and every layer's
    median is kept. Runs at least ``iterations`` inferences and, for models that take microseconds, goes on
    until ``min_seconds`` have passed (at most ``max_iterations``); stops early at ``max_seconds`` (after at
    least 3). ``warmup_iterations`` untimed inferences come first (first-run allocations would dominate).
    """
    from ovq.runtime.execution_precision import runtime_settings

    started = time.perf_counter()
    request = compiled_model.create_infer_request()
    feed = inputs if inputs is not None else {}
    for _ in range(warmup_iterations):
        request.infer(feed)
    samples: dict[str, list[float]] = {}
    kernels: dict[str, tuple[str, str]] = {}
    done = 0
    measuring = time.perf_counter()
    while done < max(iterations, 1) or (time.perf_counter() - measuring < min_seconds and done < max_iterations):
        request.infer(feed)
        done += 1
        for counter in request.profiling_info:
            if counter.status != counter.Status.EXECUTED:
                continue
            samples.setdefault(counter.node_name, []).append(counter.real_time.total_seconds() * 1000.0)
            kernels[counter.node_name] = (counter.node_type, counter.exec_type)
        if done >= 3 and time.perf_counter() - started > max_seconds:
            break
    layers = []
    for node in compiled_model.get_runtime_model().get_ordered_ops():
        name = node.get_friendly_name()
        if name not in samples:
            continue  # not executed: constants, inputs, layers fused away
        info = node.get_rt_info()
        layer_type = info["layerType"].astype(str) if "layerType" in info else kernels[name][0]
        if layer_type in _NON_COMPUTING_TYPES:
            continue
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "unknown"
        fused = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
        layers.append(
            LayerTime(
                name=name,
                layer_type=layer_type,
                exec_type=kernels[name][1],
                precision=kernel_precision(kernels[name][1], precision),
                ms=statistics.median(samples[name]),
                original_names=[n for n in fused.split(",") if n],
                inputs=[value.get_node().get_friendly_name() for value in node.input_values()],
                outputs=[
                    target.get_node().get_friendly_name()
                    for output in node.outputs()
                    for target in output.get_target_inputs()
                ],
            )
        )
    settings = runtime_settings(compiled_model)
    return LayerProfile(
        layers=layers,
        iterations=done,
        inference_precision=settings["inference_precision"],
        wall_s=time.perf_counter() - started,
        num_streams=settings["num_streams"],
        num_threads=settings["num_threads"],
    )


def profile_model(
    model: ov.Model | str | Path,
    config: Mapping[str, Any] | None,
    inputs: Mapping[Any, np.ndarray] | Sequence[np.ndarray] | None,
    *,
    iterations: int = 10,
    max_seconds: float = 2.0,
    device: str = "CPU",
) -> LayerProfile:
    """Compile ``model`` for profiling and collect its per-layer times; ``wall_s`` includes the compile."""
    started = time.perf_counter()
    compiled = compile_for_profiling(model, config, device=device)
    profile = collect_profile(compiled, inputs, iterations=iterations, max_seconds=max_seconds)
    profile.wall_s = time.perf_counter() - started
    return profile


# ------------------------------------------------------------------------------------------- quantized ops


@dataclasses.dataclass
class QuantizedOperation:
    """A quantized IR operation: ``kind`` "int8" (activations quantized) or "weights" (weights only).

    ``aliases`` are the names the plugin may give the executed layer instead (it names a fully connected
    layer after its fused bias Add, and a quantized MatMul ``X/DequantizationMultiply``).
    """

    kind: str
    aliases: list[str] = dataclasses.field(default_factory=list)


def quantized_operations(model: ov.Model) -> dict[str, QuantizedOperation]:
    """IR operations that were quantized, by name.

    An operation counts when one of its inputs comes, through a dequantization chain (Convert, Subtract,
    Multiply, Reshape, ...), from a FakeQuantize or from a low-precision constant (u8/i8/u4/i4 weights).
    A FakeQuantize on a non-constant input means activations are quantized: the op is meant to run int8.
    """
    found: dict[str, QuantizedOperation] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() not in _QUANTIZABLE_IR_TYPES:
            continue
        kinds = {_input_quantization(value.get_node()) for value in op.input_values()}
        kind = "int8" if "activations" in kinds else "weights" if "weights" in kinds else None
        if kind is not None:
            found[op.get_friendly_name()] = QuantizedOperation(kind, _fused_successors(op))
    return found


def operation_aliases(model: ov.Model, names: Sequence[str]) -> dict[str, list[str]]:
    """For IR operations of ``model`` (e.g. the FP32 one), the names their executed layer may carry."""
    wanted = set(names)
    return {
        op.get_friendly_name(): _fused_successors(op)
        for op in model.get_ordered_ops()
        if op.get_friendly_name() in wanted
    }


def _fused_successors(op: ov.Node, depth: int = 0) -> list[str]:
    """Names of the Add/Multiply/Subtract ops right after ``op`` (bias and dequantization the plugin fuses)."""
    names = []
    for output in op.outputs():
        for target in output.get_target_inputs():
            node = target.get_node()
            if node.get_type_name() in ("Add", "Multiply", "Subtract") and depth < 2:
                names.append(node.get_friendly_name())
                names += _fused_successors(node, depth + 1)
    return names


def _input_quantization(node: ov.Node, depth: int = 0) -> str | None:
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        source = node.input_value(0).get_node()
        return "weights" if _is_constant_chain(source) else "activations"
    if kind == "Constant":
        return "weights" if node.get_element_type().get_type_name() in _LOW_PRECISION_CONSTANTS else None
    if kind in _ACTIVATION_PASS_TYPES and depth < 6:
        results = {_input_quantization(value.get_node(), depth + 1) for value in node.input_values()}
        return "activations" if "activations" in results else "weights" if "weights" in results else None
    return None


def _is_constant_chain(node: ov.Node, depth: int = 0) -> bool:
    if node.get_type_name() == "Constant":
        return True
    if node.get_type_name() in _CHAIN_IR_TYPES and depth < 6:
        return all(_is_constant_chain(value.get_node(), depth + 1) for value in node.input_values())
    return False


# ------------------------------------------------------------------------------------------------ summary


def summarize_profile(
    profile: LayerProfile,
    *,
    quantized: Mapping[str, QuantizedOperation] | None = None,
    default: LayerProfile | None = None,
    default_aliases: Mapping[str, Sequence[str]] | None = None,
    top: int = 10,
    max_operations: int = 500,
) -> dict[str, Any]:
    """A compact, JSON-ready summary of a profile for report.json.

    quantized: the variant's quantized IR operations (:func:`quantized_operations`); default: the profile
    of the uncompressed model at the plugin's default precision, to compare each quantized operation
    with (matched by IR operation name, or by ``default_aliases`` from :func:`operation_aliases` of the
    FP32 IR, since the plugin may name the layer after a fused bias). Times are milliseconds per inference
    (medians); shares are of the summed layer time.
    """
    total = profile.total_ms
    share = (lambda ms: round(ms / total, 4)) if total > 0 else (lambda ms: 0.0)
    by_precision: dict[str, float] = {}
    by_type: dict[str, dict[str, float]] = {}
    for layer in profile.layers:
        by_precision[layer.precision] = by_precision.get(layer.precision, 0.0) + layer.ms
        entry = by_type.setdefault(layer.layer_type, {"ms": 0.0, "count": 0})
        entry["ms"] += layer.ms
        entry["count"] += 1
    ranked = sorted(profile.layers, key=lambda layer: -layer.ms)
    summary: dict[str, Any] = {
        "iterations": profile.iterations,
        "inference_precision": profile.inference_precision,
        "num_streams": profile.num_streams,
        "num_threads": profile.num_threads,
        "wall_s": round(profile.wall_s, 3),
        "total_ms": round(total, 4),
        "executed_layers": len(profile.layers),
        "by_precision": {
            name: {"ms": round(ms, 4), "share": share(ms)}
            for name, ms in sorted(by_precision.items(), key=lambda kv: -kv[1])
        },
        "by_type": {
            name: {"ms": round(entry["ms"], 4), "share": share(entry["ms"]), "count": int(entry["count"])}
            for name, entry in sorted(by_type.items(), key=lambda kv: -kv[1]["ms"])[:top]
        },
        "top_layers": [
            {
                "name": layer.name,
                "type": layer.layer_type,
                "exec_type": layer.exec_type,
                "precision": layer.precision,
                "ms": round(layer.ms, 4),
                "share": share(layer.ms),
            }
            for layer in ranked[:top]
        ],
        "conversions": _conversions(profile, share),
        "quantized": _quantized_summary(
            profile, quantized or {}, default, default_aliases or {}, share, max_operations
        ),
    }
    return summary


def _conversions(profile: LayerProfile, share: Any) -> dict[str, Any]:
    """Reorder/Convert layers: their time, and how many int8 compute layers they sit next to."""
    names = {layer.name: layer for layer in profile.layers}
    conversions = [layer for layer in profile.layers if layer.is_conversion]
    ms = sum(layer.ms for layer in conversions)
    beside_int8: set[str] = set()
    for layer in conversions:
        for neighbour in (*layer.inputs, *layer.outputs):
            other = names.get(neighbour)
            if other is not None and other.is_compute and other.precision == "int8":
                beside_int8.add(other.name)
    return {"count": len(conversions), "ms": round(ms, 4), "share": share(ms), "int8_neighbours": len(beside_int8)}


def _quantized_summary(
    profile: LayerProfile,
    quantized: Mapping[str, QuantizedOperation],
    default: LayerProfile | None,
    default_aliases: Mapping[str, Sequence[str]],
    share: Any,
    max_operations: int,
) -> dict[str, Any]:
    """Quantized IR operations: how they executed, the float fallbacks, and each one against the default."""
    if not quantized:
        return {"operations": 0}
    executed = profile.by_name()
    reference = default.by_name() if default is not None else {}
    operations = []
    fallback_ms, fallback_names, int8_ms = 0.0, [], 0.0
    faster = slower = 0
    for name, operation in quantized.items():
        kind = operation.kind
        layer = next((executed[n] for n in [name, *operation.aliases] if n in executed), None)
        if layer is None:
            continue  # fused into another layer or optimised out: no time of its own
        if kind == "int8" and layer.precision != "int8":
            fallback_ms += layer.ms
            fallback_names.append(name)
        elif layer.precision == "int8":
            int8_ms += layer.ms
        entry: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "type": layer.layer_type,
            "precision": layer.precision,
            "ms": round(layer.ms, 4),
        }
        candidates = [name, *default_aliases.get(name, ()), *operation.aliases]
        other = next((reference[n] for n in candidates if n in reference), None)
        if other is not None and other.ms > 0 and layer.ms > 0:
            entry["default_ms"] = round(other.ms, 4)
            entry["default_precision"] = other.precision
            entry["speedup_vs_default"] = round(other.ms / layer.ms, 3)
            entry["faster_than_default"] = layer.ms < other.ms
            faster += layer.ms < other.ms
            slower += layer.ms >= other.ms
        operations.append(entry)
    operations.sort(key=lambda entry: -float(entry["ms"]))
    block: dict[str, Any] = {
        "operations": len(quantized),
        "executed": len(operations),
        "int8_executed": sum(1 for entry in operations if entry["precision"] == "int8"),
        "int8_ms": round(int8_ms, 4),
        "fallback": {
            "count": len(fallback_names),
            "ms": round(fallback_ms, 4),
            "share": share(fallback_ms),
            "names": fallback_names[:20],
        },
        "per_operation": operations[:max_operations],
    }
    if default is not None:
        block["vs_default"] = {"compared": faster + slower, "faster": faster, "slower": slower}
    return block


# ---------------------------------------------------------------------------------------------- reasons


def likely_reasons(summary: Mapping[str, Any], *, generic: bool = True) -> list[str]:
    """Plain sentences naming what in a profile summary most likely makes the variant slow.

    E.g. ``"31% of time in Reorder/Convert around 12 int8 layers"``,
    ``"4 of 20 quantized operations ran in f32 (18% of time)"``,
    ``"9 of 42 quantized operations were slower than at the default precision"``.
    """
    reasons = []
    conversions = summary.get("conversions") or {}
    if float(conversions.get("share") or 0.0) >= 0.10:
        around = int(conversions.get("int8_neighbours") or 0)
        where = f" around {around} int8 layer{'s' if around != 1 else ''}" if around else ""
        reasons.append(f"{float(conversions['share']):.0%} of time in Reorder/Convert{where}")
    quantized = summary.get("quantized") or {}
    fallback = quantized.get("fallback") or {}
    if int(fallback.get("count") or 0):
        reasons.append(
            f"{fallback['count']} of {quantized.get('operations')} quantized operations ran in floating point"
            f" ({float(fallback.get('share') or 0.0):.0%} of time)"
        )
    operations = int(quantized.get("operations") or 0)
    if operations and not int(quantized.get("int8_executed") or 0):
        reasons.append("no quantized operation executed in int8 (weights are dequantized to float at run time)")
    versus = quantized.get("vs_default") or {}
    if int(versus.get("slower") or 0):
        reasons.append(
            f"{versus['slower']} of {versus['compared']} quantized operations were slower than at the default precision"
        )
    if not reasons and generic:
        # Nothing stands out: say at least where most of the time went.
        by_precision = summary.get("by_precision") or {}
        if by_precision:
            name, entry = next(iter(by_precision.items()))
            reasons.append(f"{float(entry.get('share') or 0.0):.0%} of time in {name} layers")
    return reasons


def time_split_line(summary: Mapping[str, Any], parts: int = 3) -> str:
    """One line of where the time goes, e.g. ``int8 61% · f32 25% · bf16 9% | Reorder/Convert 14%``."""
    by_precision = summary.get("by_precision") or {}
    pieces = [f"{name} {float(entry.get('share') or 0.0):.0%}" for name, entry in list(by_precision.items())[:parts]]
    conversions = summary.get("conversions") or {}
    line = " · ".join(pieces) or "–"
    if conversions.get("count"):
        line += f" | Reorder/Convert {float(conversions.get('share') or 0.0):.0%}"
    top = (summary.get("top_layers") or [None])[0]
    if top:
        line += f" | top: {top['name']} ({top['type']}, {top['precision']}, {float(top['share']):.0%})"
    return line
