"""Weight-only compression (INT8/INT4 with NNCF), FP16-compressed IR, and the runtime's dynamic quantization.

Weight-only compression stores weights as int8/int4 constants with a dequantize (Convert -> Subtract ->
Multiply) subgraph and keeps activations in floating point. On the CPU the plugin can then quantize
activations on the fly, per group of ``DYNAMIC_QUANTIZATION_GROUP_SIZE`` input channels, and run int8
kernels: that compile-time property (``dynamic_quantization_properties``) is part of a weight-compressed
variant's deployment, not of its IR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ovq.compression.scoring import inputs_of
from ovq.errors import ConfigError

if TYPE_CHECKING:
    import nncf
    import openvino as ov


WeightMode = Literal["int8_sym", "int8_asym", "int4_sym", "int4_asym"]
WEIGHT_MODES: tuple[str, ...] = ("int8_sym", "int8_asym", "int4_sym", "int4_asym")
SENSITIVITY_METRICS: tuple[str, ...] = (
    "weight_quantization_error",
    "hessian_input_activation",
    "mean_activation_variance",
    "max_activation_variance",
    "mean_activation_magnitude",
)
BACKUP_MODES: tuple[str, ...] = ("none", "int8_sym", "int8_asym")

# Property name (ov.properties.hint.dynamic_quantization_group_size) and the values that mean something
# special; any other positive integer is a group size in input channels (the CPU default is 32).
DYNAMIC_QUANTIZATION_PROPERTY = "DYNAMIC_QUANTIZATION_GROUP_SIZE"
DYNAMIC_QUANTIZATION_DISABLED = 0
DYNAMIC_QUANTIZATION_PER_TOKEN = 2**64 - 1


def _data_aware_options(
    *, awq: bool | None, scale_estimation: bool | None, gptq: bool | None, lora_correction: bool | None
) -> dict[str, bool]:
    return {
        name: value
        for name, value in {
            "awq": awq,
            "scale_estimation": scale_estimation,
            "gptq": gptq,
            "lora_correction": lora_correction,
        }.items()
        if value is not None
    }


def _check_options(
    mode: str,
    *,
    group_size: int | None,
    ratio: float | None,
    has_dataset: bool,
    data_aware: dict[str, bool],
    sensitivity_metric: str | None,
    backup_mode: str | None,
    all_layers: bool | None,
) -> None:
    """Refuse combinations NNCF would reject, with a message naming the field and what is allowed."""
    if mode not in WEIGHT_MODES:
        raise ConfigError(f"weight compression mode {mode!r} is unknown; allowed: {', '.join(WEIGHT_MODES)}")
    if mode.startswith("int8"):
        # INT8 weight compression is per output channel over all layers by definition (NNCF enforces it).
        if group_size not in (None, -1):
            raise ConfigError(f"group_size applies to int4 modes only (int8 is per-channel); got {group_size}")
        if ratio not in (None, 1, 1.0):
            raise ConfigError(f"ratio applies to int4 modes only (int8 compresses every layer); got {ratio}")
        unsupported = [
            name
            for name, given in {
                "dataset": has_dataset,
                **{key: True for key in data_aware},
                "sensitivity_metric": sensitivity_metric is not None,
                "backup_mode": backup_mode is not None,
                "all_layers": all_layers is not None,
            }.items()
            if given
        ]
        if unsupported:
            raise ConfigError(
                f"{', '.join(unsupported)}: data-aware and mixed-precision options apply to int4 modes only",
                hint="drop them for int8_sym/int8_asym, or choose int4_sym/int4_asym",
            )
        return
    if group_size is not None and group_size != -1 and group_size <= 0:
        raise ConfigError(f"group_size must be a positive number of channels or -1 (per-channel); got {group_size}")
    if ratio is not None and not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"ratio must be in [0, 1] (share of layers in int4, the rest in backup_mode); got {ratio}")
    needs_data = [name for name, enabled in data_aware.items() if enabled and name != "awq"]
    if needs_data and not has_dataset:
        raise ConfigError(
            f"{', '.join(needs_data)} need a calibration dataset",
            hint="give the stage a dataset, or turn the data-aware options off",
        )
    if data_aware.get("gptq") and data_aware.get("lora_correction"):
        raise ConfigError("gptq and lora_correction cannot be combined; choose one")
    if sensitivity_metric is not None and sensitivity_metric not in SENSITIVITY_METRICS:
        raise ConfigError(
            f"sensitivity_metric {sensitivity_metric!r} is unknown; allowed: {', '.join(SENSITIVITY_METRICS)}"
        )
    if sensitivity_metric not in (None, "weight_quantization_error") and not has_dataset:
        raise ConfigError(f"sensitivity_metric {sensitivity_metric!r} needs a calibration dataset")
    if backup_mode is not None and backup_mode not in BACKUP_MODES:
        raise ConfigError(f"backup_mode {backup_mode!r} is unknown; allowed: {', '.join(BACKUP_MODES)}")


def compress_weights(
    model: ov.Model,
    *,
    mode: WeightMode | str = "int8_asym",
    group_size: int | None = None,
    ratio: float | None = None,
    dataset: Sequence[Any] | None = None,
    transform: Callable[[Any], Any] | None = None,
    subset_size: int = 128,
    awq: bool | None = None,
    scale_estimation: bool | None = None,
    gptq: bool | None = None,
    lora_correction: bool | None = None,
    sensitivity_metric: str | None = None,
    backup_mode: str | None = None,
    all_layers: bool | None = None,
    ignored_scope: nncf.IgnoredScope | None = None,
) -> ov.Model:
    """Compress the weights of MatMul/Convolution/Embedding layers to int8 or int4; activations stay float.

    ``mode``: ``int8_sym``/``int8_asym`` (per output channel, every layer) or ``int4_sym``/``int4_asym``
    (per group of ``group_size`` input channels, NNCF default 128; ``ratio`` of the layers in int4 and the
    rest, plus embeddings and the last layer unless ``all_layers``, in ``backup_mode``, default int8_asym).
    With a ``dataset`` (items as for calibration; ``transform`` maps an item to model inputs, default the
    first element of an ``(inputs, target)`` pair) int4 becomes data-aware: ``awq``, ``scale_estimation``,
    ``gptq`` or ``lora_correction``, and data-based ``sensitivity_metric`` for the int4/backup split.

    >>> int4_model = compress_weights(fp32_model, mode="int4_asym", group_size=128, ratio=0.8)
    """
    import nncf

    from ovq.compression.ptq import refuse_if_compressed

    data_aware = _data_aware_options(
        awq=awq, scale_estimation=scale_estimation, gptq=gptq, lora_correction=lora_correction
    )
    _check_options(
        mode,
        group_size=group_size,
        ratio=ratio,
        has_dataset=dataset is not None,
        data_aware=data_aware,
        sensitivity_metric=sensitivity_metric,
        backup_mode=backup_mode,
        all_layers=all_layers,
    )
    refuse_if_compressed(model, what="compress the weights of")
    kwargs: dict[str, Any] = {"mode": nncf.CompressWeightsMode(mode), **data_aware}
    if group_size is not None:
        kwargs["group_size"] = group_size
    if ratio is not None:
        kwargs["ratio"] = ratio
    if all_layers is not None:
        kwargs["all_layers"] = all_layers
    if sensitivity_metric is not None:
        kwargs["sensitivity_metric"] = nncf.SensitivityMetric(sensitivity_metric)
    if backup_mode is not None:
        kwargs["backup_mode"] = nncf.BackupMode(backup_mode)
    if ignored_scope is not None:
        kwargs["ignored_scope"] = ignored_scope
    if dataset is not None:
        items = list(dataset)
        if not items:
            raise ConfigError("the weight-compression dataset is empty")
        kwargs["dataset"] = nncf.Dataset(items, transform or inputs_of)
        kwargs["subset_size"] = min(subset_size, len(items))
    try:
        # NNCF's OpenVINO weight compression rewrites the model it is given; the caller's stays intact.
        compressed: ov.Model = nncf.compress_weights(model.clone(), **kwargs)
    except (nncf.ValidationError, nncf.ParameterNotSupportedError) as error:
        raise ConfigError(f"weight compression: {error}".strip()) from None
    return compressed


def to_fp16(model: ov.Model) -> ov.Model:
    """A copy of ``model`` whose floating-point weights are stored as f16 (with Convert to f32 on load).

    The same transformation ``ov.save_model(..., compress_to_fp16=True)`` applies when writing an IR, done
    in memory so the result can be evaluated and benchmarked before it is saved. Save the result with
    ``compress_to_fp16=False`` (already compressed; the flag is ignored for it either way). It halves the
    size; execution precision is still chosen by the compile's ``INFERENCE_PRECISION_HINT``.
    """
    from ovq.compression._nncf.openvino_private import compress_weights_to_fp16

    compressed = model.clone()
    compress_weights_to_fp16(compressed)
    return compressed


def dynamic_quantization_properties(group_size: int | Literal["per_token"] | None) -> dict[str, int]:
    """Compile properties for the CPU plugin's dynamic quantization of activations.

    ``None`` leaves the plugin default (32 on the CPU plugin of OpenVINO 2026, applied to layers with
    compressed weights); ``0`` disables it; ``"per_token"`` quantizes each activation row as one group;
    a positive integer is the group size in input channels.
    """
    if group_size is None:
        return {}
    if group_size == "per_token":
        return {DYNAMIC_QUANTIZATION_PROPERTY: DYNAMIC_QUANTIZATION_PER_TOKEN}
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 0:
        raise ConfigError(
            f"dynamic_quantization_group_size must be 0 (off), a positive group size or 'per_token'; got {group_size!r}"
        )
    return {DYNAMIC_QUANTIZATION_PROPERTY: group_size}


def weight_precision(model: ov.Model) -> str | None:
    """The report's precision for a weight-compressed model: ``int4_weights``, ``int8_weights`` or None."""
    types = set()
    for op in model.get_ops():
        if op.get_type_name() != "Constant":
            continue
        element_type = op.get_output_element_type(0).get_type_name()
        if element_type in ("i4", "u4", "nf4") or (element_type in ("i8", "u8") and _feeds_convert(op)):
            types.add(element_type)
    if types & {"i4", "u4", "nf4"}:
        return "int4_weights"
    if types:
        return "int8_weights"
    return None


def _feeds_convert(op: Any) -> bool:
    return any(target.get_node().get_type_name() == "Convert" for target in op.output(0).get_target_inputs())
