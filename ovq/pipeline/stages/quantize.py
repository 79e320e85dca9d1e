"""Pipeline adapter for the quantize stage (engine: ovq.compression.ptq, ovq.compression.accuracy_control)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from ovq.compression.ptq import make_ignored_scope, quantize, refuse_if_compressed
from ovq.config.stages import QuantizeStage
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.pipeline.stages.under_budget import accuracy_aware_quantize

if TYPE_CHECKING:
    from nncf import IgnoredScope

    from ovq.pipeline.context import RunContext


class _PtqOptions(TypedDict):
    """The PTQ options both paths pass on (typed, so mypy checks them against both signatures)."""

    subset_size: int
    preset: str | None
    model_type: str | None
    fast_bias_correction: bool
    ignored_scope: IgnoredScope | None
    weights_granularity: str | None


class Quantize(StageAdapter[QuantizeStage]):
    config_model = QuantizeStage
    uses_budget = True
    quantizes = True

    def run(self, ctx: RunContext, config: QuantizeStage) -> StageResult:
        """Plain INT8 PTQ, or accuracy-aware PTQ under the pipeline's budget (the story goes into details)."""
        from ovq.runtime.convert import read_model_file

        source = ctx.variants[config.source]
        model = read_model_file(source.model_path)
        refuse_if_compressed(model)
        # Fail on data that does not fit before the (long) calibration starts, showing both shapes.
        items = ctx.dataset(config.dataset, model=model)
        scope = config.ignored_scope
        ignored = make_ignored_scope(scope.names, scope.patterns, scope.types) if scope else None
        samples = min(config.subset_size, len(items))
        details: dict[str, Any] = {
            "variant": config.name,
            "calibration_samples": samples,
            # The weakest target decides: one class without VNNI needs half-range weights for all.
            "overflow_fix": ctx.overflow_fix,
        }
        options: _PtqOptions = {
            "subset_size": config.subset_size,
            "preset": config.preset,
            "model_type": config.model_type,
            "fast_bias_correction": config.fast_bias_correction,
            "ignored_scope": ignored,
            "weights_granularity": config.weights_granularity,
        }
        budget_met: bool | None = None
        control = config.accuracy_control
        if ctx.config.budget is not None and (control is None or control.enabled):
            quantized, story = accuracy_aware_quantize(ctx, model, items, control, variant=config.name, **options)
            details["accuracy_control"] = story
            budget_met = bool(story.get("met"))
        else:
            with ctx.reporter.progress(f"calibrating {config.name} on {samples} samples", None):
                quantized = quantize(model, items, **options, overflow_fix=ctx.overflow_fix)
        ctx.add_variant(quantized, name=config.name, precision="int8", source=config.source)
        details["fake_quantize_ops"] = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
        return StageResult(details=details, variants_added=[config.name], budget_met=budget_met)
