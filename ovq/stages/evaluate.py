"""Evaluate: run a compiled model over a dataset and score its outputs with a metric."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.errors import DataMismatchError

if TYPE_CHECKING:
    import openvino as ov

    from ovq.config import EvaluateStage
    from ovq.metrics import Metric
    from ovq.run_context import RunContext, Variant


def infer_outputs(
    compiled: ov.CompiledModel,
    items: Sequence[Any],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """The first output of the model for each item, in order (several requests in flight keep all cores busy).

    Requests are driven round-robin from this thread, without Python completion callbacks: callbacks run on
    OpenVINO's threads and need the GIL, and an AsyncInferQueue torn down while one waits for it can
    deadlock (seen here once; OpenVINO PR #37073 fixes that destructor).
    """
    try:
        in_flight = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except RuntimeError:
        in_flight = 1
    requests = [compiled.create_infer_request() for _ in range(min(in_flight, max(1, len(items))))]
    pending: list[int | None] = [None] * len(requests)
    outputs: list[np.ndarray] = [None] * len(items)  # type: ignore[list-item]

    def collect(slot: int) -> None:
        index = pending[slot]
        if index is not None:
            requests[slot].wait()
            # Copy: the request's output buffer is reused by its next inference.
            outputs[index] = requests[slot].get_output_tensor(0).data.copy()
            pending[slot] = None

    try:
        for index, item in enumerate(items):
            slot = index % len(requests)
            collect(slot)
            requests[slot].start_async(item[0] if isinstance(item, tuple) else item)
            pending[slot] = index
            if progress is not None:
                progress(index + 1)
        for slot in range(len(requests)):
            collect(slot)
    except RuntimeError as exc:
        raise DataMismatchError(f"inference failed on the dataset: {str(exc).strip().splitlines()[-1]}") from exc
    return outputs


def evaluate(
    compiled: ov.CompiledModel,
    items: Sequence[Any],
    metric: Metric,
    *,
    reference_outputs: Sequence[Any] | None = None,
) -> float:
    """Score a compiled model on items; metrics measured against the reference need reference_outputs.

    >>> top1 = resolve_metric("top1", MetricSpec(function="top1"), base_dir=None)
    >>> accuracy = evaluate(compiled.compiled, validation_items, top1)
    """
    outputs = infer_outputs(compiled, items)
    return score(outputs, items, metric, reference_outputs=reference_outputs)


def score(
    outputs: Sequence[Any],
    items: Sequence[Any],
    metric: Metric,
    *,
    reference_outputs: Sequence[Any] | None = None,
) -> float:
    if metric.against == "reference":
        if reference_outputs is None:
            raise ValueError(f"metric {metric.name} is measured against the reference outputs; none were given")
        targets: Sequence[Any] = reference_outputs
    else:
        targets = [item[1] if isinstance(item, tuple) else None for item in items]
        if any(t is None for t in targets):
            raise DataMismatchError(
                f"metric {metric.name!r} compares with labels, but the dataset items have none",
                hint="use a dataset with labels, or set the metric's against: reference",
            )
    return float(metric.fn(outputs, targets))


# ------------------------------------------------------------------------------------------ pipeline adapter


def run_stage(ctx: RunContext, stage: EvaluateStage, index: int, label: str) -> dict[str, Any]:
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
                "drop": ctx.metric(name).drop(reference_value, values[name]),
                "higher_is_better": ctx.metric(name).higher_is_better,
                "samples": len(ctx.dataset(stage.dataset)),
            }
        details[variant.name] = values
    return details


def _variant_scores(
    ctx: RunContext, stage: EvaluateStage, variant: Variant, metric_names: list[str]
) -> dict[str, float]:
    key = None
    if ctx.cache is not None:
        compile_settings = ctx.compile_stage.model_dump() if ctx.compile_stage else None
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
        hit = ctx.cache.lookup(key)
        if hit is not None:
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
        ctx.cache.store(key, {"scores": scores})
    return scores
