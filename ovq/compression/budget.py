"""Accuracy budgets: how much worse than FP32 each metric may get, and whether a measured value holds.

Pure and cheap to import (no OpenVINO, no NNCF): the pipeline's budget gate checks any variant with
``check_budget``; ``ovq.compression.accuracy_control`` steers NNCF by the same definitions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ovq.errors import ConfigError

DropType = Literal["absolute", "relative"]

# Float round-off must not turn "exactly at the budget" into a miss (1.0 - 0.99 > 0.01 in binary).
DROP_TOLERANCE = 1e-9


class MetricLike(Protocol):
    """What a budget needs of a metric (``ovq.inputs.metrics.Metric`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def fn(self) -> Callable[[Sequence[Any], Sequence[Any]], float]: ...

    @property
    def higher_is_better(self) -> bool: ...

    @property
    def against(self) -> str:
        """``"labels"`` (the dataset's targets) or ``"reference"`` (the FP32 model's outputs)."""
        ...


@dataclass(frozen=True)
class Budget:
    """How much worse than FP32 a metric may get: ``max_drop`` in the metric's units or as a fraction."""

    metric: MetricLike
    max_drop: float
    drop_type: DropType = "absolute"

    def __post_init__(self) -> None:
        if not math.isfinite(self.max_drop) or self.max_drop < 0:
            raise ConfigError(f"budget for {self.metric.name}: max_drop must be >= 0, got {self.max_drop}")
        if self.drop_type not in ("absolute", "relative"):
            raise ConfigError(f"budget for {self.metric.name}: drop_type must be absolute or relative")


@dataclass(frozen=True)
class BudgetCheck:
    """One metric measured against its budget; ``drop`` is positive when the variant is worse."""

    metric: str
    higher_is_better: bool
    reference: float
    value: float
    drop: float
    max_drop: float
    drop_type: DropType
    met: bool

    @property
    def missed_by(self) -> float:
        return max(0.0, self.drop - self.max_drop)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "reference": self.reference,
            "value": self.value,
            "drop": self.drop,
            "max_drop": self.max_drop,
            "drop_type": self.drop_type,
            "met": self.met,
            "missed_by": self.missed_by,
        }

    def describe(self) -> str:
        unit = " (relative)" if self.drop_type == "relative" else ""
        verdict = "within" if self.met else f"over by {self.missed_by:.4g};"
        return (
            f"{self.metric} {self.value:.4f} vs FP32 {self.reference:.4f}: drop {self.drop:.4g}{unit} "
            f"{verdict} allowed {self.max_drop:.4g}"
        )


def metric_drop(reference: float, value: float, *, higher_is_better: bool, drop_type: DropType = "absolute") -> float:
    """How much worse ``value`` is than ``reference`` (negative when better), in the budget's terms.

    The one accuracy-drop formula in ovq (budgets, the evaluate stage, QAT, nightly gates). A relative
    drop from a reference of exactly 0 is 0 when nothing got worse and +inf otherwise, never a division
    by zero.

    >>> metric_drop(0.98, 0.97, higher_is_better=True)
    0.010000000000000009
    >>> metric_drop(0.10, 0.12, higher_is_better=False, drop_type="relative")
    0.1999999999999999
    """
    worse_by = reference - value if higher_is_better else value - reference
    if drop_type == "absolute":
        return worse_by
    if reference != 0:
        return worse_by / abs(reference)
    return 0.0 if worse_by <= 0 else math.inf


def check_budget(budget: Budget, reference: float, value: float) -> BudgetCheck:
    """Whether a variant's metric ``value`` stays within ``budget`` of the FP32 ``reference``.

    >>> check_budget(Budget(metric, max_drop=0.01), reference=0.981, value=0.975).met
    True
    """
    drop = metric_drop(reference, value, higher_is_better=budget.metric.higher_is_better, drop_type=budget.drop_type)
    met = math.isfinite(value) and drop <= budget.max_drop + DROP_TOLERANCE
    return BudgetCheck(
        metric=budget.metric.name,
        higher_is_better=budget.metric.higher_is_better,
        reference=float(reference),
        value=float(value),
        drop=float(drop),
        max_drop=budget.max_drop,
        drop_type=budget.drop_type,
        met=bool(met),
    )


def check_budgets(
    budgets: Sequence[Budget], references: Mapping[str, float], values: Mapping[str, float]
) -> list[BudgetCheck]:
    """``check_budget`` for several budgets, looking each metric up by name."""
    return [check_budget(b, references[b.metric.name], values[b.metric.name]) for b in budgets]
