"""Each variant's scores for the evaluate stage: memoised per IR digest, NaN/Inf outputs counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.benchmarking.accuracy import non_finite_items, score
from ovq.config.stages import EvaluateStage
from ovq.errors import ConfigError, StageError
from ovq.runtime.infer import infer_outputs

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext, Variant


def refuse_non_finite_reference(ctx: RunContext, stage: EvaluateStage, variant: Variant, count: int) -> None:
    # Every drop is measured against the reference: NaN there makes every comparison meaningless.
    if variant is ctx.reference:
        raise StageError(
            f"the reference variant {variant.name!r} produces NaN/Inf outputs on {count} items of"
            f" {stage.dataset!r}; no variant can be compared with it",
            hint="check the model on this data (overflow, log of zero, division by zero) before compressing it",
        )


def variant_scores(
    ctx: RunContext, stage: EvaluateStage, variant: Variant, metric_names: list[str]
) -> tuple[dict[str, float | None], int]:
    """The variant's scores (None where NaN/Inf outputs gave a non-finite score) and its non-finite item count."""
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
            return dict(hit.record["scores"]), int(hit.record.get("non_finite_outputs", 0))
    compiled = ctx.compiled(variant)
    items = ctx.dataset(stage.dataset, model=compiled.compiled)
    with ctx.reporter.progress(f"evaluating {variant.name} on {len(items)} items", len(items)) as update:
        outputs = infer_outputs(compiled.compiled, items, progress=update)
    variant.outputs[stage.dataset] = outputs
    needs_reference = any(ctx.metric(name).against == "reference" for name in metric_names)
    reference_outputs = ctx.reference_outputs(stage.dataset) if needs_reference else None
    non_finite = non_finite_items(outputs)
    scores: dict[str, float | None] = {}
    for name in metric_names:
        try:
            scores[name] = score(outputs, items, ctx.metric(name), reference_outputs=reference_outputs)
        except ConfigError:
            if not non_finite:
                raise  # the metric itself is wrong
            scores[name] = None  # NaN in, NaN out: the variant is flagged, the metric is not to blame
    if key is not None and ctx.cache is not None:
        ctx.cache.store(key, {"scores": scores, "non_finite_outputs": non_finite}, warn=ctx.warn)
    return scores, non_finite
