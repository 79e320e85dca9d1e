"""INT8 static post-training quantization with NNCF."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ovq.errors import ConfigError, ModelFormatError

if TYPE_CHECKING:
    import nncf
    import openvino as ov

    from ovq.config import AccuracyControlSpec, QuantizeStage
    from ovq.run_context import RunContext

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
) -> ov.Model:
    """INT8 static PTQ of an OpenVINO model.

    calibration_items are dataset items; transform maps an item to the model's inputs (default: the first
    element of an (inputs, target) pair).

    >>> int8_model = quantize(fp32_model, calibration_items, subset_size=300)
    """
    import nncf

    refuse_if_compressed(model)
    to_inputs = transform or _inputs_of
    kwargs = ptq_arguments(
        subset_size=min(subset_size, len(calibration_items)),
        fast_bias_correction=fast_bias_correction,
        preset=preset,
        model_type=model_type,
        ignored_scope=ignored_scope,
    )
    if weights_granularity is not None:
        advanced_parameters = with_weights_granularity(advanced_parameters, weights_granularity)
    if advanced_parameters is not None:
        kwargs["advanced_parameters"] = advanced_parameters
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


def _inputs_of(item: Any) -> Any:
    return item[0] if isinstance(item, tuple) else item


# ------------------------------------------------------------------------------------------ pipeline adapter


def run_stage(ctx: RunContext, stage: QuantizeStage, index: int, label: str) -> dict[str, Any]:
    """Plain INT8 PTQ, or accuracy-aware PTQ under the pipeline's budget (the story goes into details)."""
    import openvino as ov

    source = ctx.variants[stage.source]
    model = ov.Core().read_model(source.model_path)
    refuse_if_compressed(model)
    # Fail on data that does not fit before the (long) calibration starts, showing both shapes.
    items = ctx.dataset(stage.dataset, model=model)
    scope = stage.ignored_scope
    ignored = make_ignored_scope(scope.names, scope.patterns, scope.types) if scope else None
    samples = min(stage.subset_size, len(items))
    details: dict[str, Any] = {"variant": stage.name, "calibration_samples": samples}
    control = stage.accuracy_control
    if ctx.config.budget is not None and (control is None or control.enabled):
        quantized, details["accuracy_control"] = accuracy_aware_quantize(
            ctx,
            model,
            items,
            control,
            variant=stage.name,
            subset_size=stage.subset_size,
            preset=stage.preset,
            model_type=stage.model_type,
            fast_bias_correction=stage.fast_bias_correction,
            ignored_scope=ignored,
            weights_granularity=stage.weights_granularity,
        )
    else:
        with ctx.reporter.progress(f"calibrating {stage.name} on {samples} samples", None):
            quantized = quantize(
                model,
                items,
                subset_size=stage.subset_size,
                preset=stage.preset,
                model_type=stage.model_type,
                fast_bias_correction=stage.fast_bias_correction,
                ignored_scope=ignored,
                weights_granularity=stage.weights_granularity,
            )
    ctx.add_variant(quantized, index, label, name=stage.name, precision="int8", source=stage.source)
    details["fake_quantize_ops"] = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    return details


def accuracy_aware_quantize(
    ctx: RunContext,
    model: ov.Model,
    items: Sequence[Any],
    control: AccuracyControlSpec | None,
    *,
    variant: str,
    subset_size: int,
    preset: str | None,
    model_type: str | None,
    fast_bias_correction: bool = True,
    ignored_scope: Any = None,
    weights_granularity: str | None = None,
    reference_outputs: Sequence[Any] | None = None,
) -> tuple[ov.Model, dict[str, Any]]:
    """NNCF accuracy control under the pipeline's budget, validated as deployed.

    Returns the model and its story (``story["met"]`` says whether the budget held as deployed). Shared by
    the quantize stage and the escalation ladder's second rung.
    """
    from ovq.accuracy_control import Budget, BudgetNotMetError, quantize_with_budget
    from ovq.config import AccuracyControlSpec
    from ovq.stages.compile import deployment_config

    budget = ctx.config.budget
    assert budget is not None
    control = control or AccuracyControlSpec()
    budgets = [Budget(ctx.metric(name), limit.max_drop, limit.drop_type) for name, limit in budget.metrics.items()]
    # The budget is a promise about the deployed model: validate it compiled the way the pipeline deploys it.
    deploy = deployment_config(ctx)
    validation = ctx.dataset(budget.dataset, model=model)
    with ctx.reporter.progress(f"quantizing {variant} under the accuracy budget (NNCF accuracy control)", None):
        try:
            result = quantize_with_budget(
                model,
                items,
                validation,
                budgets,
                deploy_properties=deploy,
                validate_at=control.validate_at,
                reference_outputs=reference_outputs,
                subset_size=subset_size,
                preset=preset,
                model_type=model_type,
                fast_bias_correction=fast_bias_correction,
                ignored_scope=ignored_scope,
                ranking_subset_size=control.ranking_subset_size,
                max_num_iterations=control.max_iterations,
                tune_hyperparams=control.tune_hyperparams,
                restore_mode=control.restore_mode,
                ranking_order=control.ranking_order,
                advanced_quantization_parameters=(
                    with_weights_granularity(None, weights_granularity) if weights_granularity else None
                ),
            )
        except BudgetNotMetError as exc:
            if not exc.result.validation_calls:
                # FP32 itself misses the budget at the deployment's precision: nothing was quantized, there
                # is no INT8 variant to keep. Fail closed now, with the story.
                exc.details = {"variant": variant, "accuracy_control": exc.result.to_dict()}
                raise
            # The variant misses the budget. It is kept, with its story, so the report shows what was tried
            # and by how much it missed; the budget gate never makes it the deliverable, and the run fails
            # closed (exit 4) unless another variant holds.
            ctx.reporter.note(f"  {variant}: {exc.message}")
            return exc.result.model, exc.result.to_dict()
    return result.model, result.to_dict()
