"""Pipeline adapter for the quantize stage (engine: ovq.compression.ptq, ovq.compression.accuracy_control)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ovq.compression.ptq import make_ignored_scope, quantize, refuse_if_compressed, with_weights_granularity

if TYPE_CHECKING:
    import openvino as ov

    from ovq.config.schema import AccuracyControlSpec, QuantizeStage
    from ovq.pipeline.context import RunContext


def run_stage(ctx: RunContext, stage: QuantizeStage, index: int, label: str) -> dict[str, Any]:
    """Plain INT8 PTQ, or accuracy-aware PTQ under the pipeline's budget (the story goes into details)."""
    from ovq.runtime.convert import read_model_file

    source = ctx.variants[stage.source]
    model = read_model_file(source.model_path)
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
    from ovq.compression.accuracy_control import Budget, BudgetNotMetError, quantize_with_budget
    from ovq.config.schema import AccuracyControlSpec
    from ovq.pipeline.stages.compile import deployment_config

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
