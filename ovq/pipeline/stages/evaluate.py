"""Pipeline adapter for the evaluate stage (engine: ovq.benchmarking.accuracy): every variant scored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.benchmarking.accuracy import score
from ovq.compression.budget import metric_drop
from ovq.config.stages import EvaluateStage
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.runtime.infer import infer_outputs

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext, Variant


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
            values = _variant_scores(ctx, stage, variant, metric_names)
            for name in metric_names:
                reference_value = reference.accuracy.get(name, {}).get("value", values[name])
                variant.accuracy[name] = {
                    "metric": name,
                    "dataset": stage.dataset,
                    "value": values[name],
                    "reference": reference_value,
                    "drop": metric_drop(
                        reference_value, values[name], higher_is_better=ctx.metric(name).higher_is_better
                    ),
                    "higher_is_better": ctx.metric(name).higher_is_better,
                    "samples": len(ctx.dataset(stage.dataset)),
                }
            details[variant.name] = values
        return StageResult(details=details)


def _variant_scores(
    ctx: RunContext, stage: EvaluateStage, variant: Variant, metric_names: list[str]
) -> dict[str, float]:
    key = None
    if ctx.cache is not None:
        compile_settings = ctx.deployment.model_dump() if ctx.deployment else None
        reference_digest = ctx.ir_digest(ctx.reference)
        metric_specs = {name: ctx.config.metrics[name].model_dump() for name in metric_names}
        key = ctx.cache.key(
            "evaluate-variant",
            ctx.ir_digest(variant),
            variant.precision,
            compile_settings,
            ctx.dataset_digest(stage.dataset),
            metric_specs,
            # Reference metrics depend on the reference model too.
            reference_digest if any(ctx.metric(n).against == "reference" for n in metric_names) else None,
        )
        hit = ctx.cache.lookup(key, warn=ctx.warn)
        if hit is not None and isinstance(hit.record.get("scores"), dict):
            ctx.reporter.note(f"  {variant.name}: scores reused from the cache")
            return dict(hit.record["scores"])
    compiled = ctx.compiled(variant)
    items = ctx.dataset(stage.dataset, model=compiled.compiled)
    with ctx.reporter.progress(f"evaluating {variant.name} on {len(items)} items", len(items)) as update:
        outputs = infer_outputs(compiled.compiled, items, progress=update)
    variant.outputs[stage.dataset] = outputs
    needs_reference = any(ctx.metric(name).against == "reference" for name in metric_names)
    reference_outputs = ctx.reference_outputs(stage.dataset) if needs_reference else None
    scores = {
        name: score(outputs, items, ctx.metric(name), reference_outputs=reference_outputs) for name in metric_names
    }
    if key is not None and ctx.cache is not None:
        ctx.cache.store(key, {"scores": scores}, warn=ctx.warn)
    return scores
