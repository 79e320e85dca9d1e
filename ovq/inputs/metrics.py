"""Built-in metrics and the loading of user metrics.

A metric is fn(outputs, targets) -> float, where outputs[i] is the model's first output for item i (a numpy
array, batch dimension included; a model with several outputs: its first output) and targets[i] is item i's
label (against: labels), the FP32 reference variant's first output for item i (against: reference), or
targets is None (against: none, a score of the outputs alone). A non-finite result is reported as such.

    def mean_confidence(outputs, targets):          # against: none
        return float(np.mean([o.max() for o in outputs]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ovq.config.schema import BUILTIN_METRIC_NAMES, MetricSpec
from ovq.inputs.user_code import load_callable

MetricFn = Callable[[Sequence[Any], Sequence[Any]], float]


def top1(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    """Share of items whose arg-max class equals the label (batched items count per sample)."""
    hits = total = 0
    for output, target in zip(outputs, targets, strict=True):
        predicted = np.asarray(output).reshape(-1, np.asarray(output).shape[-1]).argmax(axis=-1)
        expected = np.asarray(target).reshape(-1)
        hits += int((predicted == expected).sum())
        total += predicted.size
    return hits / total


def mse(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    return float(
        np.mean([np.mean((np.asarray(o) - np.asarray(t)) ** 2) for o, t in zip(outputs, targets, strict=True)])
    )


def cosine(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    """Mean cosine similarity between outputs and targets, item by item (flattened)."""
    sims = []
    for output, target in zip(outputs, targets, strict=True):
        a, b = np.asarray(output, np.float64).ravel(), np.asarray(target, np.float64).ravel()
        sims.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))
    return float(np.mean(sims))


@dataclass(frozen=True)
class Builtin:
    fn: MetricFn
    higher_is_better: bool


BUILTIN_METRICS: dict[str, Builtin] = {
    "top1": Builtin(top1, True),
    "mse": Builtin(mse, False),
    "cosine": Builtin(cosine, True),
}


assert set(BUILTIN_METRICS) == set(BUILTIN_METRIC_NAMES), "keep ovq.config.schema.BUILTIN_METRIC_NAMES in sync"


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    higher_is_better: bool
    against: str  # "labels", "reference" or "none"


def resolve_metric(name: str, spec: MetricSpec, *, base_dir: Path | None) -> Metric:
    builtin = BUILTIN_METRICS.get(spec.function)
    if builtin is not None:
        higher = builtin.higher_is_better if spec.higher_is_better is None else spec.higher_is_better
        return Metric(name, builtin.fn, higher, spec.against)
    fn = load_callable(spec.function, base_dir=base_dir)
    higher = True if spec.higher_is_better is None else spec.higher_is_better
    return Metric(name, fn, higher, spec.against)
