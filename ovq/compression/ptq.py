"""INT8 static post-training quantization with NNCF."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ovq.compression.overflow import OverflowFixMode, overflow_fix_for, with_overflow_fix
from ovq.compression.scoring import inputs_of
from ovq.errors import ConfigError, ModelFormatError

if TYPE_CHECKING:
    import nncf
    import openvino as ov


LOW_PRECISION_WEIGHT_TYPES = ("u8", "i8", "u4", "i4", "nf4", "f4e2m1")


def compression_state(model: ov.Model) -> str | None:
    """Say how a model is already compressed ('int8 fake-quantize', 'u4 weights', ...) or None."""
    op_types = {op.get_type_name() for op in model.get_ops()}
    if "FakeQuantize" in op_types:
        return "it already has FakeQuantize operations (INT8 quantized)"
    if "FakeConvert" in op_types:
        return "it already has FakeConvert operations (FP8 quantized)"
    for op in model.get_ops():
        if (
            op.get_type_name() == "Constant"
            and op.get_output_element_type(0).get_type_name() in LOW_PRECISION_WEIGHT_TYPES
        ):
            consumers = op.output(0).get_target_inputs()
            if any(c.get_node().get_type_name() == "Convert" for c in consumers):
                return f"its weights are already compressed ({op.get_output_element_type(0).get_type_name()} constants)"
    return None


def refuse_if_compressed(model: ov.Model, *, what: str = "quantize") -> None:
    state = compression_state(model)
    if state is not None:
        raise ModelFormatError(
            f"refusing to {what} this model: {state}",
            hint="start from the floating-point model (the export stage's IR), not a compressed one",
        )


def make_ignored_scope(
    names: Sequence[str] = (), patterns: Sequence[str] = (), types: Sequence[str] = ()
) -> nncf.IgnoredScope | None:
    import nncf

    if not (names or patterns or types):
        return None
    # validate=True: an entry that matches nothing is an error, never a silent no-op.
    return nncf.IgnoredScope(names=list(names), patterns=list(patterns), types=list(types), validate=True)


def quantize(
    model: ov.Model,
    calibration_items: Sequence[Any],
    *,
    transform: Callable[[Any], Any] | None = None,
    subset_size: int = 300,
    preset: str | None = None,
    model_type: str | None = None,
    fast_bias_correction: bool = True,
    ignored_scope: nncf.IgnoredScope | None = None,
    weights_granularity: str | None = None,
    advanced_parameters: Any = None,
    overflow_fix: OverflowFixMode | None = None,
) -> ov.Model:
    """INT8 static PTQ of an OpenVINO model.

    calibration_items are dataset items; transform maps an item to the model's inputs (default: the first
    element of an (inputs, target) pair). overflow_fix (default: what this process's CPU class needs, see
    ovq.compression.overflow) decides whether weights keep their full 8 bits or half a range.

    >>> int8_model = quantize(fp32_model, calibration_items, subset_size=300)
    """
    import nncf

    refuse_if_compressed(model)
    to_inputs = transform or inputs_of
    kwargs = ptq_arguments(
        subset_size=min(subset_size, len(calibration_items)),
        fast_bias_correction=fast_bias_correction,
        preset=preset,
        model_type=model_type,
        ignored_scope=ignored_scope,
    )
    if weights_granularity is not None:
        advanced_parameters = with_weights_granularity(advanced_parameters, weights_granularity)
    kwargs["advanced_parameters"] = with_overflow_fix(advanced_parameters, overflow_fix or overflow_fix_for())
    try:
        return nncf.quantize(model, nncf.Dataset(calibration_items, to_inputs), **kwargs)
    except nncf.ValidationError as exc:
        raise ConfigError(
            f"ignored_scope: {exc}",
            hint="use operation names as they appear in the IR (layer name attributes in model.xml)",
        ) from None


def ptq_arguments(
    *,
    subset_size: int,
    fast_bias_correction: bool,
    preset: str | None,
    model_type: str | None,
    ignored_scope: nncf.IgnoredScope | None,
) -> dict[str, Any]:
    """The keyword arguments nncf.quantize and nncf.quantize_with_accuracy_control share (None = NNCF's default)."""
    import nncf

    kwargs: dict[str, Any] = {"subset_size": subset_size, "fast_bias_correction": fast_bias_correction}
    if preset is not None:
        kwargs["preset"] = nncf.QuantizationPreset(preset)
    if model_type is not None:
        kwargs["model_type"] = nncf.ModelType(model_type)
    if ignored_scope is not None:
        kwargs["ignored_scope"] = ignored_scope
    return kwargs


def with_weights_granularity(advanced_parameters: Any, granularity: str) -> Any:
    """NNCF advanced parameters with weight scales per channel or per tensor."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    parameters = advanced_parameters or AdvancedQuantizationParameters()
    parameters.weights_quantization_params = QuantizationParameters(per_channel=granularity == "per_channel")
    return parameters
