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
    from ovq.run_context import RunContext


def infer_outputs(
    compiled: ov.CompiledModel,
    items: Sequence[Any],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """The first output of the model for each item, in order (asynchronous requests keep all cores busy)."""
    import openvino as ov

    outputs: list[np.ndarray | None] = [None] * len(items)

    def on_done(request: ov.InferRequest, index: int) -> None:
        # Copy: the request's output buffer is reused by its next inference.
        outputs[index] = request.get_output_tensor(0).data.copy()

    queue = ov.AsyncInferQueue(compiled)
    queue.set_callback(on_done)
    try:
        for index, item in enumerate(items):
            inputs = item[0] if isinstance(item, tuple) else item
            queue.start_async(inputs, index)
            if progress is not None:
                progress(index + 1)
        queue.wait_all()
    except RuntimeError as exc:
        raise DataMismatchError(f"inference failed on the dataset: {str(exc).strip().splitlines()[-1]}") from exc
    return [o for o in outputs if o is not None]


def evaluate(
    compiled: ov.CompiledModel,
    items: Sequence[Any],
    metric: Metric,
    *,
    reference_outputs: Sequence[Any] | None = None,
) -> float:
    """Score a compiled model on items; metrics measured against the reference need reference_outputs.

    >>> top1 = evaluate(compiled.compiled, validation_items, resolve_metric("top1", MetricSpec(function="top1"), base_dir=None))
    """
    outputs = infer_outputs(compiled, items)
    return score(outputs, items, metric, reference_outputs=reference_outputs)


def score(
    outputs: Sequence[Any], items: Sequence[Any], metric: Metric, *, reference_outputs: Sequence[Any] | None = None
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
    """Score every variant on the dataset; the reference (FP32) first, so drops and reference metrics exist."""
    metric_names = stage.metrics or list(ctx.config.metrics)
    reference = ctx.reference
    details: dict[str, Any] = {}
    for variant in ctx.variants.values():
        assert variant.compiled is not None  # the config guarantees a compile stage before evaluate
        items = ctx.dataset(stage.dataset, model=variant.compiled.compiled)
        with ctx.reporter.progress(f"evaluating {variant.name} on {len(items)} items", len(items)) as update:
            outputs = infer_outputs(variant.compiled.compiled, items, progress=update)
        variant.outputs[stage.dataset] = outputs
        for name in metric_names:
            metric = ctx.metric(name)
            value = score(outputs, items, metric, reference_outputs=reference.outputs.get(stage.dataset))
            reference_value = reference.accuracy.get(name, {}).get("value", value)
            variant.accuracy[name] = {
                "metric": name,
                "dataset": stage.dataset,
                "value": value,
                "reference": reference_value,
                "drop": metric.drop(reference_value, value),
                "higher_is_better": metric.higher_is_better,
                "samples": len(items),
            }
        details[variant.name] = {name: variant.accuracy[name]["value"] for name in metric_names}
    return details
