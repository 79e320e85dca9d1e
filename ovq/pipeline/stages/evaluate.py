"""Pipeline adapter for the evaluate stage (engine: ovq.benchmarking.accuracy): every variant scored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.compression.budget import metric_drop
from ovq.config.stages import EvaluateStage
from ovq.pipeline.scores import refuse_non_finite_reference, variant_scores
from ovq.pipeline.stages.base import StageAdapter, StageResult

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext


class Evaluate(StageAdapter[EvaluateStage]):
    config_model = EvaluateStage
    uses_deployment = True

    def run(self, ctx: RunContext, stage: EvaluateStage) -> StageResult:
        """Score every variant on the dataset; the reference (FP32) first, so drops and reference metrics exist.

        Each variant's scores are memoised in the stage cache under its own IR digest: when only the INT8 model
        changed (a nightly rerun after an NNCF upgrade), the FP32 reference is not evaluated again.
        """
        metric_names = stage.metrics or list(ctx.config.metrics)
        reference = ctx.reference
        details: dict[str, Any] = {}
        for variant in ctx.variants.values():
            values, non_finite = variant_scores(ctx, stage, variant, metric_names)
            if non_finite:
                refuse_non_finite_reference(ctx, stage, variant, non_finite)
                ctx.warn(
                    f"variant {variant.name!r} produces NaN/Inf outputs on {non_finite} of"
                    f" {len(ctx.dataset(stage.dataset))} items of {stage.dataset!r}; it can never be the deliverable"
                )
            for name in metric_names:
                value = values[name]
                reference_value = reference.accuracy.get(name, {}).get("value", value)
                higher_is_better = ctx.metric(name).higher_is_better
                variant.accuracy[name] = {
                    "metric": name,
                    "dataset": stage.dataset,
                    "value": value,
                    "reference": reference_value,
                    "drop": (
                        metric_drop(reference_value, value, higher_is_better=higher_is_better)
                        if value is not None and reference_value is not None
                        else None
                    ),
                    "higher_is_better": higher_is_better,
                    "samples": len(ctx.dataset(stage.dataset)),
                }
                if non_finite:
                    variant.accuracy[name]["non_finite_outputs"] = non_finite
                    if value is None:
                        variant.accuracy[name]["value_reason"] = "the outputs hold NaN/Inf"
            details[variant.name] = values
        return StageResult(details=details)
