"""Enforce a pipeline's accuracy budget on the variants as they will be deployed, and pick the deliverable.

Runs after the stages: every compressed variant's scores (measured by the evaluate stage on the model
compiled with the deployment's precision and hint) are checked against the FP32 reference. The deliverable
is the fastest (or smallest) variant that meets every limit (among variants equally fast within the
benchmark's noise, the smallest); when none does, the run fails closed with the
accuracy-budget exit code and no deliverable is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ovq.compression.budget import Budget, check_budget
from ovq.config.schema import BudgetSpec
from ovq.errors import AccuracyBudgetError
from ovq.pipeline.context import RunContext, Variant


@dataclass(frozen=True)
class BudgetVerdict:
    """The budget gate's finding: the report's budget block, and the deliverable when a variant holds."""

    block: dict[str, Any]
    deliverable: str | None
    misses: list[str]

    @property
    def met(self) -> bool:
        return self.deliverable is not None

    def error(self) -> AccuracyBudgetError:
        """The fail-closed error for a verdict that names no deliverable."""
        return AccuracyBudgetError(
            "no variant meets the accuracy budget (" + " | ".join(self.misses or ["no compressed variant"]) + ")",
            stage="budget",
        )


def enforce_budget(ctx: RunContext) -> BudgetVerdict:
    """Judge every compressed variant against the budget and pick the deliverable (None: the run fails)."""
    spec = ctx.config.budget
    assert spec is not None
    budgets = [Budget(ctx.metric(name), limit.max_drop, limit.drop_type) for name, limit in spec.metrics.items()]
    return judge(spec, budgets, ctx.reference, list(ctx.variants.values()))


def judge(spec: BudgetSpec, budgets: list[Budget], reference: Variant, variants: list[Variant]) -> BudgetVerdict:
    """The budget verdict over ``variants`` measured on one CPU class (the run's, or a target's)."""
    # The reference is a candidate only where it is also the plugin's default (an f32-default CPU): the
    # uncompressed model as a user would deploy it, which a compressed variant must beat to be shipped.
    candidates = [v for v in variants if v is not reference or v.role == "default_precision"]
    verdicts: dict[str, Any] = {}
    passing: list[Variant] = []
    for variant in candidates:
        non_finite = max((int(entry.get("non_finite_outputs", 0)) for entry in variant.accuracy.values()), default=0)
        if non_finite:
            # NaN/Inf outputs may still score (argmax of NaN is 0): such a variant is never the deliverable.
            verdicts[variant.name] = {
                "met": False,
                "checks": [],
                "disqualified": f"NaN/Inf outputs on {non_finite} items",
            }
            continue
        checks = [
            check_budget(
                budget,
                reference.accuracy[budget.metric.name]["value"],
                variant.accuracy[budget.metric.name]["value"],
            )
            for budget in budgets
        ]
        met = all(check.met for check in checks)
        verdicts[variant.name] = {
            "met": met,
            "inference_precision": (variant.compile_info or {}).get("inference_precision"),
            "hint": (variant.compile_info or {}).get("hint"),
            "checks": [check.to_dict() for check in checks],
        }
        if met:
            passing.append(variant)
    deliverable = _select(passing, spec.select)
    block = {
        "dataset": spec.dataset,
        "metrics": {name: limit.model_dump() for name, limit in spec.metrics.items()},
        "select": spec.select,
        "met": deliverable is not None,
        "variants": verdicts,
        "deliverable": deliverable.name if deliverable else None,
        # The plugin's default precision is a candidate like any other; these name it and, when the deliverable
        # is slower than some variant, say that the budget (or the select rule) is why.
        "default_variant": next((v.name for v in candidates if v.role == "default_precision"), None),
        "faster_over_budget": _faster_over_budget(deliverable, candidates, verdicts),
        "reason": _reason(deliverable, candidates, verdicts),
    }
    misses = [
        f"{name}: "
        + (
            v.get("disqualified")
            or "; ".join(
                c["metric"] + f" drop {c['drop']:.4g} > {c['max_drop']:.4g}" for c in v["checks"] if not c["met"]
            )
        )
        for name, v in verdicts.items()
        if not v["met"]
    ]
    return BudgetVerdict(block=block, deliverable=deliverable.name if deliverable else None, misses=misses)


def _select(passing: list[Variant], rule: str) -> Variant | None:
    if not passing:
        return None
    if rule == "smallest":
        return min(passing, key=lambda v: v.size_bytes)
    # fastest: by measured throughput; a variant without a benchmark cannot claim to be fastest.
    measured = [v for v in passing if v.benchmark]
    if measured:
        return min(tied_with_fastest(measured), key=tie_rule)
    return min(passing, key=tie_rule)


def tie_rule(variant: Variant) -> tuple[int, bool]:
    """Between variants whose speeds are a tie: the smaller, then the uncompressed one (the declared rule)."""
    return variant.size_bytes, variant.role != "default_precision"


def tied_with_fastest(measured: list[Variant]) -> list[Variant]:
    """The fastest variant and those the paired interval does not prove slower than it.

    Between variants the benchmark cannot tell apart (e.g. INT8 and the plugin's bf16 default on a model
    too small for either to matter, a tie or a comparison still undecided at the time cap, or two variants
    that compile to the same thing) the tie rule decides; a variant proven slower never is delivered.
    """
    from ovq.benchmarking.protocol import against_fastest
    from ovq.benchmarking.verdict import comparison_of

    compared = against_fastest(
        measured,
        speed=lambda v: float(v.benchmark["throughput_fps"]),  # type: ignore[index]
        compare=lambda v, fastest: comparison_of(v.benchmark or {}, fastest.benchmark or {}, versus=fastest.name),
    )
    return [v for v, comparison in compared if comparison is None or comparison.verdict != "slower"]


def _reason(deliverable: Variant | None, candidates: list[Variant], verdicts: dict[str, Any]) -> str | None:
    """One line saying why an uncompressed deliverable was chosen over every compressed variant."""
    if deliverable is None or deliverable.role != "default_precision":
        return None
    compressed = [v for v in candidates if v.role != "default_precision"]
    if not compressed:
        return f"{deliverable.name} is delivered: the pipeline declares no compressed variant"
    missed = [v.name for v in compressed if not verdicts[v.name]["met"]]
    if len(missed) == len(compressed):
        return f"{deliverable.name} is delivered: every compressed variant misses the budget ({', '.join(missed)})"
    return (
        f"{deliverable.name} is delivered: no compressed variant that holds the budget is faster beyond noise"
        " (ties go to the smaller model, never to a larger one)"
    )


def _faster_over_budget(deliverable: Variant | None, candidates: list[Variant], verdicts: dict[str, Any]) -> list[str]:
    """Variants proven faster than the deliverable that the budget rejected (why a faster one was not chosen)."""
    from ovq.benchmarking.verdict import comparison_of

    if deliverable is None or not deliverable.benchmark:
        return []
    return [
        v.name
        for v in candidates
        if v.benchmark
        and not verdicts[v.name]["met"]
        and comparison_of(v.benchmark, deliverable.benchmark, versus=deliverable.name).verdict == "faster"
    ]
