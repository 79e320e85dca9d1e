"""Scoring a model on dataset items, shared by every budget-driven engine (PTQ, weight compression,
accuracy control, speed-aware mixed precision, the optimize search).

An item is the model's inputs, or an ``(inputs, target)`` tuple; a metric compares the first output
either with the items' targets or with the FP32 model's outputs (``against: reference``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import openvino as ov

    from ovq.compression.budget import MetricLike


def inputs_of(item: Any) -> Any:
    """The model inputs of a dataset item."""
    return item[0] if isinstance(item, tuple) else item


def target_of(item: Any) -> Any:
    """The target (label) of a dataset item, or None when it has none."""
    return item[1] if isinstance(item, tuple) and len(item) > 1 else None


def metric_values(
    metrics: Sequence[MetricLike],
    outputs: Sequence[Sequence[np.ndarray]],
    indices: Sequence[int],
    labels: Sequence[Any],
    reference_outputs: Sequence[np.ndarray] | None,
) -> dict[str, float]:
    """Each metric on the first output of ``outputs`` (items ``indices``), against labels or the reference."""
    first = [o[0] for o in outputs]
    values = {}
    for metric in metrics:
        if metric.against == "reference":
            assert reference_outputs is not None
            targets = [reference_outputs[i] for i in indices]
        else:
            targets = [labels[i] for i in indices]
        values[metric.name] = float(metric.fn(first, targets))
    return values


def inference_precision_of(compiled: ov.CompiledModel) -> str:
    """The precision a compiled model runs in (``unknown`` for a device without the property)."""
    try:
        return str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
    except Exception:  # a device without the property: the report says so rather than guess
        return "unknown"
