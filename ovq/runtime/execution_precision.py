"""What a compiled model really runs: the plugin's resolved settings and each layer's execution precision.

The requested precision ("INT8", "FP32") is a wish; the CPU plugin decides per layer. Its runtime
(execution) graph says, for every executed layer, the precision it ran in (rt_info ``runtimePrecision``)
and its kind (``layerType``). Counting those makes a model that is "INT8" but runs mostly f32 visible.

Example::

    compiled = ov.Core().compile_model("model_int8.xml", "CPU")
    execution_precision(compiled)            # {"int8": 53, "f32": 12}
    execution_precision_summary(compiled).compute_int8_share   # 1.0
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

#: Layer types of the runtime graph that do the heavy arithmetic (where int8 pays off).
COMPUTE_LAYER_TYPES = frozenset(
    {"Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul", "GEMM", "Gemm"}
)
#: Runtime-graph nodes that compute nothing: graph inputs/outputs and constants (weights).
_NON_COMPUTING_TYPES = frozenset({"Input", "Output", "Const", "Parameter", "Result", "Constant"})
#: Runtime precisions shown under a common name, so the report speaks of "int8", not "u8" and "i8".
_PRECISION_NAMES = {"u8": "int8", "i8": "int8", "u4": "int4", "i4": "int4"}


def runtime_settings(compiled_model: ov.CompiledModel) -> dict[str, Any]:
    """Settings the plugin resolved: hint, inference precision, streams, threads, optimal request count.

    Values the device does not report are None. Precision is OpenVINO's short name ("f32", "bf16").
    """

    def read(name: str) -> Any:
        try:
            return compiled_model.get_property(name)
        except RuntimeError:  # the device does not know this property
            return None

    hint = read("PERFORMANCE_HINT")
    precision = read("INFERENCE_PRECISION_HINT")
    return {
        "hint": str(hint).lower() if hint not in (None, "") else None,
        "inference_precision": precision.get_type_name() if hasattr(precision, "get_type_name") else None,
        "num_streams": _as_int(read("NUM_STREAMS")),
        "num_threads": _as_int(read("INFERENCE_NUM_THREADS")),
        "optimal_num_requests": _as_int(read("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
    }


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def executed_layers(compiled_model: ov.CompiledModel) -> list[tuple[str, str, str]]:
    """``(name, layer type, precision)`` of each computing layer in the runtime graph, in execution order.

    Inputs, outputs and constants are left out; precisions use the names of :func:`execution_precision`.
    """
    layers = []
    for node in compiled_model.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        layer_type = info["layerType"].astype(str) if "layerType" in info else node.get_type_name()
        if layer_type in _NON_COMPUTING_TYPES:
            continue
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "unknown"
        kernel = info["primitiveType"].astype(str) if "primitiveType" in info else ""
        layers.append((node.get_friendly_name(), layer_type, kernel_precision(kernel, precision)))
    return layers


#: Kernel name suffixes (``brgconv_avx512_amx_I8``, ``brgemm_avx512_bf16``) and the precision they compute in.
_KERNEL_SUFFIXES = {
    "i8": "int8",
    "u8": "int8",
    "bf16": "bf16",
    "f16": "f16",
    "fp16": "f16",
    "f32": "f32",
    "fp32": "f32",
}


def kernel_precision(kernel: str, runtime_precision: str) -> str:
    """The precision a layer computed in: its kernel's suffix when it names one, else its runtime precision.

    The runtime precision alone misleads for weight-compressed layers: a fully connected layer with int8
    weights reports ``i8`` while its kernel (``brgemm_avx512_bf16``) decompresses them and computes in bf16.
    """
    suffix = kernel.rsplit("_", 1)[-1].lower() if "_" in kernel else ""
    if suffix in _KERNEL_SUFFIXES:
        return _KERNEL_SUFFIXES[suffix]
    return _PRECISION_NAMES.get(runtime_precision, runtime_precision)


def execution_precision(compiled_model: ov.CompiledModel) -> dict[str, int]:
    """Number of executed layers per precision they ran in, most frequent first.

    Keys are OpenVINO's short names ("f32", "bf16", "f16", "i32", ...) except that u8/i8 count together
    as "int8" (and u4/i4 as "int4"). Reorders and other data-movement layers are counted too; see
    :func:`execution_precision_summary` for the compute-heavy layers alone.
    """
    counts = Counter(precision for _, _, precision in executed_layers(compiled_model))
    return dict(counts.most_common())


@dataclasses.dataclass
class ExecutionPrecisionSummary:
    """How a compiled model executes: all layers and the compute-heavy ones, by precision."""

    layers: dict[str, int]
    compute_layers: dict[str, int]
    #: Share (0..1) of compute-heavy layers that ran in int8; None when the model has none.
    compute_int8_share: float | None
    #: The precision most compute-heavy layers ran in (None when there are none).
    compute_precision: str | None
    #: Layer type -> {precision: count}, for a closer look.
    by_type: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the summary."""
        return dataclasses.asdict(self)


def execution_precision_summary(compiled_model: ov.CompiledModel) -> ExecutionPrecisionSummary:
    """Counts per precision for all layers and for the compute-heavy ones (Convolution, MatMul, ...)."""
    layers = executed_layers(compiled_model)
    by_type: dict[str, Counter[str]] = {}
    for _, layer_type, precision in layers:
        by_type.setdefault(layer_type, Counter())[precision] += 1
    compute = Counter(precision for _, layer_type, precision in layers if layer_type in COMPUTE_LAYER_TYPES)
    total_compute = sum(compute.values())
    return ExecutionPrecisionSummary(
        layers=dict(Counter(precision for _, _, precision in layers).most_common()),
        compute_layers=dict(compute.most_common()),
        compute_int8_share=compute["int8"] / total_compute if total_compute else None,
        compute_precision=compute.most_common(1)[0][0] if total_compute else None,
        by_type={layer_type: dict(counter.most_common()) for layer_type, counter in sorted(by_type.items())},
    )


def default_inference_precision(device: str = "CPU") -> str:
    """The precision the plugin runs an FP32 model in when none is asked for ("bf16" on AMX CPUs, "f32", ...).

    Asked of the plugin itself, not guessed from CPU flags: that is what a user compiling without hints gets.
    """
    import openvino as ov

    value = ov.Core().get_property(device, "INFERENCE_PRECISION_HINT")
    return str(value.get_type_name()) if hasattr(value, "get_type_name") else str(value)
