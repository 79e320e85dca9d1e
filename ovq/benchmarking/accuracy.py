"""Evaluate: run a compiled model over a dataset and score its outputs with a metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ovq.errors import ConfigError, DataMismatchError
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
    return finite_score(metric.name, metric.fn(outputs, targets))


def finite_score(metric_name: str, value: object) -> float:
    """A metric's result as a float; NaN/Inf, strings, None, arrays and booleans are errors naming the metric."""
    import math

    import numpy as np

    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        shown = f"an array of shape {list(value.shape)}" if isinstance(value, np.ndarray) else repr(value)[:60]
        raise ConfigError(
            f"metric {metric_name!r} returned {shown} ({type(value).__name__}); it must return a finite float",
            hint="return one number, e.g. float(np.mean(...))",
        )
    if not math.isfinite(float(value)):
        raise ConfigError(
            f"metric {metric_name!r} returned {float(value)}; it must return a finite float",
            hint="guard divisions and empty inputs in the metric function",
        )
    return float(value)


def non_finite_items(outputs: Sequence[Any]) -> int:
    """How many outputs hold a NaN or an Inf (a variant with any can never be the deliverable)."""
    import numpy as np

    return sum(
        1
        for output in outputs
        if np.asarray(output).dtype.kind in "fc" and not bool(np.isfinite(np.asarray(output)).all())
    )
