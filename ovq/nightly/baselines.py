"""Baselines for the nightly gates: the tolerances, a previous report as a baseline, pinned reference files.

A pinned reference file (YAML or JSON)::

    schema_version: 1
    tolerances: {accuracy_drop: 0.005, throughput_drop: 0.10, latency_rise: 0.10, size_rise: 0.02}
    pipelines:
      quickstart:
        cpu_class: avx512_core_vnni              # optional: measured as this class; another is not compared
        tolerances: {throughput_drop: 0.20}      # optional, per pipeline (and per variant)
        variants:
          int8: {accuracy: 0.985, throughput_fps: 4200, latency_median_ms: 0.9, size_bytes: 120000}
      resnet:
        report: refs/resnet-2026-10-01.json      # or pin a whole report, relative to this file

A report.json can also serve as a pinned file by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ovq.config.validation_messages import validate_config
from ovq.config.yaml_loader import read_config_file
from ovq.errors import ConfigError, InputFileError
from ovq.report.schema import Benchmark, Report, ReportFormatError, ReportLike, VariantReport, parse_report


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
    cpu_class: str | None = Field(
        default=None, description="the CPU class the pinned values were measured as; another class is not compared"
    )
    tolerances: ToleranceOverrides | None = None
    variants: dict[str, _PinnedVariant] = Field(default_factory=dict)

    @field_validator("cpu_class")
    @classmethod
    def _known_class(cls, value: str | None) -> str | None:
        from ovq.runtime.cpu_class import CLASSES

        names = [known.name for known in CLASSES]
        if value is not None and value not in names:
            raise ValueError(f"unknown CPU class {value!r}; choose one of: {', '.join(names)}")
        return value


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
    ``cpu_class``: the class it was measured as (None = unknown): a run of another class is not compared.
    """

    source: str
    variants: dict[str, ReferenceVariant]
    report: Report | None = None
    pinned: bool = False
    cpu_class: str | None = None


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
    report = parse_report_like(report, source)
    variants: dict[str, ReferenceVariant] = {}
    for variant in report.variants:
        measured = variant_measurements(variant)
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
    return Baseline(
        source=source, variants=variants, report=report, pinned=pinned, cpu_class=report.environment.cpu_class
    )


def load_pinned_baselines(path: str | Path, tolerances: Tolerances | None = None) -> PinnedBaselines:
    """Load a pinned reference file (see the module docstring), or a report.json used as one."""
    path = Path(path)
    defaults = tolerances or Tolerances()
    document = _read_document(path)
    if isinstance(document, Mapping) and "variants" in document and "pipeline" in document:
        report = _parse_pinned(document, path)
        baseline = baseline_from_report(report, defaults, source=f"pinned report {path}", pinned=True)
        return PinnedBaselines(path=path, pipelines={report.pipeline: baseline})
    pinned_file = validate_config(
        _PinnedFile,
        document,
        source=str(path),
        hint="a pinned baseline has `pipelines: {NAME: {variants: {...}}}`; see docs/how-to/nightly.md",
    )
    file_tolerances = defaults.merged(pinned_file.tolerances)
    pipelines: dict[str, Baseline] = {}
    for name, pinned in pinned_file.pipelines.items():
        pipeline_tolerances = file_tolerances.merged(pinned.tolerances)
        if pinned.report is not None:
            report_path = (path.parent / pinned.report).resolve()
            report = read_config_file(
                report_path,
                what=f"report pinned by {path} (pipelines.{name}.report)",
                hint=f"pipelines.{name}.report is relative to {path.parent}; point it at a report.json written by ovq",
            )
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
        pipelines[name] = Baseline(
            source=f"pinned file {path}", variants=variants, pinned=True, cpu_class=pinned.cpu_class
        )
    return PinnedBaselines(path=path, pipelines=pipelines)


def parse_report_like(report: ReportLike, what: str) -> Report:
    try:
        return parse_report(report)
    except ReportFormatError as error:
        raise InputFileError(f"{what} is not a readable report: {error}", hint="see docs/report.md") from None


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def variant_measurements(variant: VariantReport) -> dict[str, Any]:
    accuracy, benchmark = variant.accuracy, variant.benchmark
    return {
        "accuracy": _number(accuracy.value) if accuracy else None,
        "accuracy_metric": accuracy.metric if accuracy else None,
        "higher_is_better": accuracy.higher_is_better if accuracy else True,
        "throughput_fps": positive_number(benchmark.throughput_fps) if benchmark else None,
        "latency_median_ms": positive_number(benchmark.latency_ms.median) if benchmark else None,
        "size_bytes": positive_number(float(variant.size_bytes)) if variant.size_bytes is not None else None,
        "spread": _spread(benchmark) if benchmark else None,
        "hint": benchmark.hint if benchmark else None,
        "noisy": benchmark.noisy if benchmark else False,
    }


def positive_number(value: float | None) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _spread(benchmark: Benchmark) -> float | None:
    """The relative run-to-run spread: the report's ``spread`` or, failing that, (max − min) / median."""
    if benchmark.spread is not None:
        return abs(benchmark.spread)
    runs = sorted(value for value in benchmark.throughput_fps_runs if positive_number(value) is not None)
    if len(runs) < 2:
        return None
    middle = len(runs) // 2
    median = runs[middle] if len(runs) % 2 else (runs[middle - 1] + runs[middle]) / 2
    return (runs[-1] - runs[0]) / median


def _read_document(path: Path) -> Any:
    return read_config_file(path, what="baseline file", hint="pass a pinned baseline .yaml or a report.json")


def _parse_pinned(document: Mapping[str, Any], path: Path) -> Report:
    try:
        return parse_report(document)
    except ReportFormatError as error:
        raise ConfigError(f"{path}: not a readable report: {error}", hint="pin a report.json written by ovq") from None
