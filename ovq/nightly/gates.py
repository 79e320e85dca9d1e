"""Nightly gates: compare a run report with a baseline and say, per metric, whether it held.

The baseline is the last good run of the same pipeline (from the history store) or a pinned reference
file. The comparison is pure: reports (``ovq.report.schema.Report``, or report.json documents, parsed on the way
in) go in, `GateResult`s come out.

Tolerances, per metric:

- accuracy: the largest allowed *absolute* drop, in the metric's own units (0.005 = half a point of a
  0..1 accuracy); the metric's direction (``higher_is_better``) is respected.
- throughput: the largest allowed *relative* drop of ``throughput_fps`` (0.10 = 10 % slower).
- latency: the largest allowed *relative* rise of the median latency.
- size: the largest allowed *relative* rise of ``size_bytes``.

Speed is noisy, so a speed gate only fails beyond noise: its tolerance is
``max(configured, noise_k * spread)``, where ``spread`` is the benchmark's relative run-to-run spread
(the larger of the run's and the baseline's). Speed gates are skipped, not failed, when the two runs
were measured on different CPUs or with different performance hints: such numbers do not compare.

Baselines and pinned reference files: :mod:`ovq.nightly.baselines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ovq.compression.budget import metric_drop
from ovq.nightly.baselines import (
    Baseline,
    PinnedBaselines,
    ReferenceVariant,
    ToleranceOverrides,
    Tolerances,
    baseline_from_report,
    load_pinned_baselines,
    parse_report_like,
    variant_measurements,
)
from ovq.report.schema import Report, ReportLike

# Re-exported: callers import the whole gate vocabulary from here.
__all__ = [
    "GATE_EXIT_CODES",
    "Baseline",
    "GateResult",
    "PinnedBaselines",
    "ReferenceVariant",
    "ToleranceOverrides",
    "Tolerances",
    "baseline_from_report",
    "compare",
    "compare_reports",
    "environment_changes",
    "load_pinned_baselines",
    "report_gates",
]

GateStatus = Literal["passed", "failed", "skipped"]

# Gate names and the exit code each one stands for when it fails (see ovq.errors).
GATE_EXIT_CODES: dict[str, int] = {
    "budget": 4,
    "perf_gate": 5,
    "accuracy_regression": 10,
    "throughput_regression": 10,
    "latency_regression": 10,
    "size_regression": 10,
}


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict. ``value``, ``baseline`` and ``limit`` are in the metric's units.

    ``limit`` is the bound the value had to stay on the right side of (a minimum for accuracy and
    throughput, a maximum for latency and size).
    """

    name: str
    variant: str | None
    metric: str | None
    status: GateStatus
    value: float | None
    baseline: float | None
    limit: float | None
    message: str

    @property
    def exit_code(self) -> int:
        """The exit code this gate stands for when it fails (0 when it did not fail)."""
        return GATE_EXIT_CODES.get(self.name, 1) if self.status == "failed" else 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "variant": self.variant,
            "metric": self.metric,
            "status": self.status,
            "value": self.value,
            "baseline": self.baseline,
            "limit": self.limit,
            "message": self.message,
        }


# -- comparing ----------------------------------------------------------------------------------------


def compare_reports(
    report: ReportLike,
    baseline_report: ReportLike,
    tolerances: Tolerances | None = None,
) -> list[GateResult]:
    """Regression gates of ``report`` against a previous report (e.g. the last good run)."""
    return compare(report, baseline_from_report(baseline_report, tolerances))


def compare(report: ReportLike, baseline: Baseline) -> list[GateResult]:
    """Regression gates (accuracy, throughput, latency, size) per variant against ``baseline``."""
    results: list[GateResult] = []
    report = parse_report_like(report, "the run's report")
    run_succeeded = report.status == "succeeded"
    current = {variant.name: variant for variant in report.variants}
    speed_mismatch = _speed_mismatch(report, baseline)
    other_class = class_mismatch(report, baseline)
    for name, reference in baseline.variants.items():
        variant = current.get(name)
        if variant is None:
            results.extend(_missing_variant(name, reference, baseline, run_succeeded))
            continue
        measured = variant_measurements(variant)
        if other_class is not None:
            # INT8 arithmetic and kernels differ by class: accuracy and speed are another machine's, not a
            # regression. The model's size does not depend on the CPU, so that gate still runs.
            for gate, metric in (("accuracy_regression", measured["accuracy_metric"] or "accuracy"), *_SPEED_METRICS):
                results.append(_skipped(gate, name, metric, f"{name}: not comparable: {other_class}"))
            results.append(_size_gate(name, measured, reference, baseline))
            continue
        results.append(_accuracy_gate(name, measured, reference, baseline))
        results.extend(_speed_gates(name, measured, reference, baseline, speed_mismatch))
        results.append(_size_gate(name, measured, reference, baseline))
    # A skip with no metric means "the baseline has no value for it"; a pinned file gates only what it
    # names, so those are not worth a line there.
    return [result for result in results if not (baseline.pinned and result.metric is None)]


def report_gates(report: ReportLike) -> list[GateResult]:
    """The gates a run checks by itself: the accuracy budget and the pipeline's own speed gates."""
    results: list[GateResult] = []
    report = parse_report_like(report, "the run's report")
    error_type = report.error.type if report.error else None
    error_message = report.error.message if report.error else None
    if error_type == "AccuracyBudgetError":
        results.append(_report_gate("budget", "failed", error_message or "accuracy budget missed"))
    elif report.budget is not None:
        if not report.budget.met:
            results.append(_report_gate("budget", "failed", "accuracy budget missed"))
        else:
            results.append(_report_gate("budget", "passed", "accuracy budget met"))
    if error_type == "PerformanceGateError":
        results.append(_report_gate("perf_gate", "failed", error_message or "performance gate missed"))
    return results


def environment_changes(report: ReportLike, baseline_report: ReportLike | None) -> list[str]:
    """What changed between the baseline run and this one (versions, CPU, digests), for the summary."""
    if baseline_report is None:
        return []
    now, then = parse_report_like(report, "the run's report"), parse_report_like(baseline_report, "the baseline report")
    changes: list[str] = []
    for key, label in (
        ("openvino", "OpenVINO"),
        ("nncf", "NNCF"),
        ("ovq", "ovq"),
        ("torch", "torch"),
        ("cpu", "CPU"),
    ):
        before, after = getattr(then.environment, key), getattr(now.environment, key)
        if before is not None and after is not None and before != after:
            changes.append(f"{label} {before} → {after}")
    for key, label in (("config_digest", "config"), ("model_digest", "model")):
        before, after = getattr(then, key), getattr(now, key)
        if before is not None and after is not None and before != after:
            changes.append(f"{label} digest {str(before)[:12]} → {str(after)[:12]}")
    return changes


# -- the gates ----------------------------------------------------------------------------------------


def _accuracy_gate(
    variant: str, measured: dict[str, Any], reference: ReferenceVariant, baseline: Baseline
) -> GateResult:
    name = "accuracy_regression"
    value, reference_value = measured["accuracy"], reference.accuracy
    if reference_value is None:
        return _skipped(name, variant, None, f"{variant}: no baseline accuracy in {baseline.source}")
    metric = measured["accuracy_metric"] or reference.accuracy_metric or "accuracy"
    if value is None:
        return _skipped(name, variant, metric, f"{variant}: accuracy was not measured in this run")
    if (
        reference.accuracy_metric is not None
        and measured["accuracy_metric"] is not None
        and reference.accuracy_metric != measured["accuracy_metric"]
    ):
        return _skipped(
            name,
            variant,
            metric,
            f"{variant}: the metric changed from {reference.accuracy_metric} to {measured['accuracy_metric']}"
            " since the baseline",
        )
    allowed = reference.tolerances.accuracy_drop
    higher_is_better = reference.higher_is_better
    limit = reference_value - allowed if higher_is_better else reference_value + allowed
    drop = metric_drop(reference_value, value, higher_is_better=higher_is_better)
    passed = value >= limit if higher_is_better else value <= limit
    message = (
        f"{variant} {metric} {value:.4f} vs baseline {reference_value:.4f} "
        f"(drop {drop:+.4f}, allowed {allowed:.4f}; {baseline.source})"
    )
    return GateResult(name, variant, metric, "passed" if passed else "failed", value, reference_value, limit, message)


# Speed gates: (gate, metric, unit, tolerance field, direction): +1 = a rise is worse, -1 = a drop is.
_SPEED_GATES: tuple[tuple[str, str, str, str, int], ...] = (
    ("throughput_regression", "throughput_fps", "FPS", "throughput_drop", -1),
    ("latency_regression", "latency_median_ms", "ms", "latency_rise", +1),
)

_SPEED_METRICS = tuple((gate, metric) for gate, metric, *_ in _SPEED_GATES)


def _speed_gates(
    variant: str,
    measured: dict[str, Any],
    reference: ReferenceVariant,
    baseline: Baseline,
    mismatch: str | None,
) -> list[GateResult]:
    results: list[GateResult] = []
    spreads = [spread for spread in (measured["spread"], reference.spread) if spread is not None]
    spread = max(spreads) if spreads else None
    if reference.hint is not None and measured["hint"] is not None and reference.hint != measured["hint"]:
        mismatch = mismatch or f"the performance hint changed from {reference.hint} to {measured['hint']}"
    noisy_note = " (measurement flagged noisy)" if measured["noisy"] else ""
    noise_k = reference.tolerances.noise_k
    for gate, metric, unit, tolerance_field, direction in _SPEED_GATES:
        reference_value: float | None = getattr(reference, metric)
        value: float | None = measured[metric]
        if reference_value is None:
            results.append(_skipped(gate, variant, None, f"{variant}: no baseline {metric} in {baseline.source}"))
        elif value is None:
            results.append(_skipped(gate, variant, metric, f"{variant}: {metric} was not measured in this run"))
        elif mismatch is not None:
            results.append(_skipped(gate, variant, metric, f"{variant}: {metric} not compared: {mismatch}"))
        else:
            configured: float = getattr(reference.tolerances, tolerance_field)
            noise = noise_k * spread if spread is not None else 0.0
            allowed = max(configured, noise)
            widened = f", widened by noise ±{spread:.1%} × {noise_k:g}" if noise > configured else ""
            limit = reference_value * (1.0 + direction * allowed)
            passed = direction * (value - limit) <= 0
            message = (
                f"{variant} {metric} {value:.4g} {unit} vs baseline {reference_value:.4g} {unit} "
                f"({value / reference_value - 1.0:+.1%}, allowed {'rise' if direction > 0 else 'drop'} "
                f"{allowed:.1%}{widened}; {baseline.source}){noisy_note}"
            )
            status: GateStatus = "passed" if passed else "failed"
            results.append(GateResult(gate, variant, metric, status, value, reference_value, limit, message))
    return results


def _size_gate(variant: str, measured: dict[str, Any], reference: ReferenceVariant, baseline: Baseline) -> GateResult:
    name, metric = "size_regression", "size_bytes"
    value, reference_value = measured["size_bytes"], reference.size_bytes
    if reference_value is None:
        return _skipped(name, variant, None, f"{variant}: no baseline size in {baseline.source}")
    if value is None:
        return _skipped(name, variant, metric, f"{variant}: the model size is not in this run's report")
    allowed = reference.tolerances.size_rise
    limit = reference_value * (1.0 + allowed)
    passed = value <= limit
    message = (
        f"{variant} size {value:,.0f} B vs baseline {reference_value:,.0f} B "
        f"({value / reference_value - 1.0:+.1%}, allowed rise {allowed:.1%}; {baseline.source})"
    )
    return GateResult(name, variant, metric, "passed" if passed else "failed", value, reference_value, limit, message)


def _missing_variant(
    variant: str, reference: ReferenceVariant, baseline: Baseline, run_succeeded: bool
) -> list[GateResult]:
    metrics = [
        ("accuracy_regression", reference.accuracy_metric or "accuracy", reference.accuracy),
        ("throughput_regression", "throughput_fps", reference.throughput_fps),
        ("latency_regression", "latency_median_ms", reference.latency_median_ms),
        ("size_regression", "size_bytes", reference.size_bytes),
    ]
    results = []
    for gate, metric, reference_value in metrics:
        if reference_value is None:
            continue
        if baseline.pinned and run_succeeded:
            # A pinned promise that silently stops being checked is a failure, not a skip.
            message = f"{variant} is pinned in {baseline.source} but this run has no such variant"
            results.append(GateResult(gate, variant, metric, "failed", None, reference_value, None, message))
        else:
            message = f"{variant}: not in this run's report (the baseline has it)"
            results.append(_skipped(gate, variant, metric, message))
    return results


def class_mismatch(report: Report, baseline: Baseline) -> str | None:
    """Why ``baseline`` is another CPU class's measurement (None when the classes match or one is unknown)."""
    now, then = report.environment.cpu_class, baseline.cpu_class
    if now is None or then is None or now == then:
        return None
    return f"the baseline was measured as CPU class {then}, this run as {now}; compare a night with its own class"


def _speed_mismatch(report: Report, baseline: Baseline) -> str | None:
    if baseline.report is None:
        return None
    now, then = report.environment, baseline.report.environment
    for before, after, label in ((then.cpu, now.cpu, "CPU"), (then.cpu_count, now.cpu_count, "CPU count")):
        if before is not None and after is not None and before != after:
            return f"the baseline was measured on another {label} ({before} vs {after})"
    return None


# -- helpers ------------------------------------------------------------------------------------------


def _skipped(name: str, variant: str, metric: str | None, message: str) -> GateResult:
    return GateResult(name, variant, metric, "skipped", None, None, None, message)


def _report_gate(name: str, status: GateStatus, message: str) -> GateResult:
    return GateResult(name, None, None, status, None, None, None, message)
