"""Evaluate: run a compiled model over a dataset and score its outputs with a metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ovq.errors import DataMismatchError
from ovq.runtime.infer import infer_outputs

if TYPE_CHECKING:
    import openvino as ov

    from ovq.inputs.metrics import Metric


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
    if metric.against == "none":
        # Metrics of the outputs alone (unlabeled data, no reference): the contract passes targets=None.
        return float(metric.fn(outputs, None))  # type: ignore[arg-type]
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
