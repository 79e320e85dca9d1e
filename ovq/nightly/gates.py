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

A pinned reference file (YAML or JSON)::

    schema_version: 1
    tolerances: {accuracy_drop: 0.005, throughput_drop: 0.10, latency_rise: 0.10, size_rise: 0.02}
    pipelines:
      quickstart:
        tolerances: {throughput_drop: 0.20}      # optional, per pipeline (and per variant)
        variants:
          int8: {accuracy: 0.985, throughput_fps: 4200, latency_median_ms: 0.9, size_bytes: 120000}
      resnet:
        report: refs/resnet-2026-10-01.json      # or pin a whole report, relative to this file

A report.json can also serve as a pinned file by itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ovq.compression.budget import metric_drop
from ovq.errors import ConfigError, InputFileError
from ovq.report.schema import Benchmark, Report, ReportFormatError, VariantReport, parse_report

ReportLike = Report | Mapping[str, Any]

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


class ToleranceOverrides(BaseModel):
    """Some tolerances, to lay over the defaults (a pinned file's, a pipeline's or a variant's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy_drop: float | None = Field(default=None, ge=0)
    throughput_drop: float | None = Field(default=None, ge=0, lt=1)
    latency_rise: float | None = Field(default=None, ge=0)
    size_rise: float | None = Field(default=None, ge=0)
    noise_k: float | None = Field(default=None, ge=0)


class Tolerances(BaseModel):
    """How far each metric may move against the baseline before its gate fails."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy_drop: float = Field(default=0.005, ge=0, description="largest absolute accuracy drop")
    throughput_drop: float = Field(default=0.10, ge=0, lt=1, description="largest relative throughput drop")
    latency_rise: float = Field(default=0.10, ge=0, description="largest relative median-latency rise")
    size_rise: float = Field(default=0.02, ge=0, description="largest relative model-size rise")
    noise_k: float = Field(default=2.0, ge=0, description="speed tolerance is at least noise_k * spread")

    def merged(self, overrides: ToleranceOverrides | None) -> Tolerances:
        """These tolerances with the given overrides laid over them."""
        if overrides is None:
            return self
        return self.model_copy(update=overrides.model_dump(exclude_none=True))


class _PinnedVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accuracy: float | None = None
    accuracy_metric: str | None = None
    higher_is_better: bool = True
    throughput_fps: float | None = Field(default=None, gt=0)
    latency_median_ms: float | None = Field(default=None, gt=0)
    size_bytes: int | None = Field(default=None, gt=0)
    tolerances: ToleranceOverrides | None = None


class _PinnedPipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report: str | None = None
    tolerances: ToleranceOverrides | None = None
    variants: dict[str, _PinnedVariant] = Field(default_factory=dict)


class _PinnedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    tolerances: ToleranceOverrides | None = None
    pipelines: dict[str, _PinnedPipeline]


@dataclass(frozen=True)
class ReferenceVariant:
    """What one variant is compared against (None = not gated)."""

    accuracy: float | None = None
    accuracy_metric: str | None = None
    higher_is_better: bool = True
    throughput_fps: float | None = None
    latency_median_ms: float | None = None
    size_bytes: float | None = None
    spread: float | None = None
    hint: str | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)


@dataclass(frozen=True)
class Baseline:
    """A baseline for one pipeline: per-variant reference values and where they came from.

    ``pinned`` baselines gate only what they name; a variant they name that the run lacks fails.
    """

    source: str
    variants: dict[str, ReferenceVariant]
    report: Report | None = None
    pinned: bool = False


@dataclass(frozen=True)
class PinnedBaselines:
    """A loaded pinned reference file: one `Baseline` per pipeline it names."""

    path: Path
    pipelines: dict[str, Baseline]

    def for_pipeline(self, pipeline: str) -> Baseline | None:
        """The pinned baseline of ``pipeline``, or None when the file does not name it."""
        return self.pipelines.get(pipeline)


# -- building baselines -------------------------------------------------------------------------------


def baseline_from_report(
    report: ReportLike,
    tolerances: Tolerances | None = None,
    *,
    source: str = "baseline report",
    pinned: bool = False,
) -> Baseline:
    """A baseline made of every measured variant of a previous report."""
    tolerances = tolerances or Tolerances()
    report = _parse(report, source)
    variants: dict[str, ReferenceVariant] = {}
    for variant in report.variants:
        measured = _measurements(variant)
        variants[variant.name] = ReferenceVariant(
            accuracy=measured["accuracy"],
            accuracy_metric=measured["accuracy_metric"],
            higher_is_better=measured["higher_is_better"],
            throughput_fps=measured["throughput_fps"],
            latency_median_ms=measured["latency_median_ms"],
            size_bytes=measured["size_bytes"],
            spread=measured["spread"],
            hint=measured["hint"],
            tolerances=tolerances,
        )
    return Baseline(source=source, variants=variants, report=report, pinned=pinned)


def load_pinned_baselines(path: str | Path, tolerances: Tolerances | None = None) -> PinnedBaselines:
    """Load a pinned reference file (see the module docstring), or a report.json used as one."""
    path = Path(path)
    defaults = tolerances or Tolerances()
    document = _read_document(path)
    if isinstance(document, Mapping) and "variants" in document and "pipeline" in document:
        report = _parse_pinned(document, path)
        baseline = baseline_from_report(report, defaults, source=f"pinned report {path}", pinned=True)
        return PinnedBaselines(path=path, pipelines={report.pipeline: baseline})
    try:
        pinned_file = _PinnedFile.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: {_first_validation_problem(exc)}",
            hint="a pinned baseline has `pipelines: {NAME: {variants: {...}}}`; see docs/how-to/nightly.md",
        ) from exc
    file_tolerances = defaults.merged(pinned_file.tolerances)
    pipelines: dict[str, Baseline] = {}
    for name, pinned in pinned_file.pipelines.items():
        pipeline_tolerances = file_tolerances.merged(pinned.tolerances)
        if pinned.report is not None:
            report_path = (path.parent / pinned.report).resolve()
            report = _read_document(report_path)
            if not isinstance(report, Mapping):
                raise ConfigError(f"{report_path}: a pinned report must be a JSON object")
            pipelines[name] = baseline_from_report(
                _parse_pinned(report, report_path),
                pipeline_tolerances,
                source=f"pinned report {report_path}",
                pinned=True,
            )
            continue
        variants = {
            variant_name: ReferenceVariant(
                accuracy=spec.accuracy,
                accuracy_metric=spec.accuracy_metric,
                higher_is_better=spec.higher_is_better,
                throughput_fps=spec.throughput_fps,
                latency_median_ms=spec.latency_median_ms,
                size_bytes=spec.size_bytes,
                tolerances=pipeline_tolerances.merged(spec.tolerances),
            )
            for variant_name, spec in pinned.variants.items()
        }
        pipelines[name] = Baseline(source=f"pinned file {path}", variants=variants, pinned=True)
    return PinnedBaselines(path=path, pipelines=pipelines)


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
    report = _parse(report, "the run's report")
    run_succeeded = report.status == "succeeded"
    current = {variant.name: variant for variant in report.variants}
    speed_mismatch = _speed_mismatch(report, baseline)
    for name, reference in baseline.variants.items():
        variant = current.get(name)
        if variant is None:
            results.extend(_missing_variant(name, reference, baseline, run_succeeded))
            continue
        measured = _measurements(variant)
        results.append(_accuracy_gate(name, measured, reference, baseline))
        results.extend(_speed_gates(name, measured, reference, baseline, speed_mismatch))
        results.append(_size_gate(name, measured, reference, baseline))
    # A skip with no metric means "the baseline has no value for it"; a pinned file gates only what it
    # names, so those are not worth a line there.
    return [result for result in results if not (baseline.pinned and result.metric is None)]


def report_gates(report: ReportLike) -> list[GateResult]:
    """The gates a run checks by itself: the accuracy budget and the pipeline's own speed gates."""
    results: list[GateResult] = []
    report = _parse(report, "the run's report")
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
    now, then = _parse(report, "the run's report"), _parse(baseline_report, "the baseline report")
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


def _speed_mismatch(report: Report, baseline: Baseline) -> str | None:
    if baseline.report is None:
        return None
    now, then = report.environment, baseline.report.environment
    for before, after, label in ((then.cpu, now.cpu, "CPU"), (then.cpu_count, now.cpu_count, "CPU count")):
        if before is not None and after is not None and before != after:
            return f"the baseline was measured on another {label} ({before} vs {after})"
    return None


# -- helpers ------------------------------------------------------------------------------------------


def _parse(report: ReportLike, what: str) -> Report:
    try:
        return parse_report(report)
    except ReportFormatError as error:
        raise InputFileError(f"{what} is not a readable report: {error}", hint="see docs/report.md") from None


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _measurements(variant: VariantReport) -> dict[str, Any]:
    accuracy, benchmark = variant.accuracy, variant.benchmark
    return {
        "accuracy": _number(accuracy.value) if accuracy else None,
        "accuracy_metric": accuracy.metric if accuracy else None,
        "higher_is_better": accuracy.higher_is_better if accuracy else True,
        "throughput_fps": _positive(benchmark.throughput_fps) if benchmark else None,
        "latency_median_ms": _positive(benchmark.latency_ms.median) if benchmark else None,
        "size_bytes": _positive(float(variant.size_bytes)) if variant.size_bytes is not None else None,
        "spread": _spread(benchmark) if benchmark else None,
        "hint": benchmark.hint if benchmark else None,
        "noisy": benchmark.noisy if benchmark else False,
    }


def _positive(value: float | None) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _spread(benchmark: Benchmark) -> float | None:
    """The relative run-to-run spread: the report's ``spread`` or, failing that, (max − min) / median."""
    if benchmark.spread is not None:
        return abs(benchmark.spread)
    runs = sorted(value for value in benchmark.throughput_fps_runs if _positive(value) is not None)
    if len(runs) < 2:
        return None
    middle = len(runs) // 2
    median = runs[middle] if len(runs) % 2 else (runs[middle - 1] + runs[middle]) / 2
    return (runs[-1] - runs[0]) / median


def _skipped(name: str, variant: str, metric: str | None, message: str) -> GateResult:
    return GateResult(name, variant, metric, "skipped", None, None, None, message)


def _report_gate(name: str, status: GateStatus, message: str) -> GateResult:
    return GateResult(name, None, None, status, None, None, None, message)


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputFileError(f"baseline file {path} does not exist") from exc
    except OSError as exc:
        raise InputFileError(f"cannot read baseline file {path}: {exc}") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from exc


def _parse_pinned(document: Mapping[str, Any], path: Path) -> Report:
    try:
        return parse_report(document)
    except ReportFormatError as error:
        raise ConfigError(f"{path}: not a readable report: {error}", hint="pin a report.json written by ovq") from None


def _first_validation_problem(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{location}: {first['msg']}{more}"
