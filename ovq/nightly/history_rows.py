"""The history store's SQLite layout: the tables, and how a report becomes a run row and variant rows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ovq.errors import ConfigError
from ovq.report.schema import Report, VariantReport

TABLES = """
CREATE TABLE IF NOT EXISTS ovq_schema (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    recorded_at TEXT NOT NULL,
    duration_s REAL,
    status TEXT NOT NULL,
    gate_status TEXT,
    error_type TEXT,
    ovq_version TEXT,
    openvino_version TEXT,
    nncf_version TEXT,
    cpu TEXT,
    config_digest TEXT,
    model_digest TEXT,
    deliverable TEXT,
    report_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, started_at);
CREATE TABLE IF NOT EXISTS run_variants (
    run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    variant TEXT NOT NULL,
    precision TEXT,
    accuracy_metric TEXT,
    accuracy REAL,
    accuracy_drop REAL,
    throughput_fps REAL,
    latency_median_ms REAL,
    size_bytes INTEGER,
    PRIMARY KEY (run_id, variant)
);
"""

RUN_COLUMNS = (
    "run_id, pipeline, started_at, finished_at, recorded_at, duration_s, status, gate_status, error_type, "
    "ovq_version, openvino_version, nncf_version, cpu, config_digest, model_digest, deliverable"
)


def variant_row(variant: VariantReport) -> tuple[Any, ...]:
    accuracy, benchmark = variant.accuracy, variant.benchmark
    return (
        variant.name,
        variant.precision,
        accuracy.metric if accuracy else None,
        accuracy.value if accuracy else None,
        accuracy.drop if accuracy else None,
        benchmark.throughput_fps if benchmark else None,
        benchmark.latency_ms.median if benchmark else None,
        variant.size_bytes,
    )


def run_row(report: Report, *, model_digest: str | None, gate_status: str | None) -> tuple[Any, ...]:
    if not report.pipeline:
        raise ConfigError("cannot record a report without a pipeline name", hint="record the report.json of a run")
    if report.status not in ("succeeded", "failed"):
        raise ConfigError(f"cannot record a report with status {report.status!r}; expected 'succeeded' or 'failed'")
    now = datetime.now(timezone.utc).isoformat()
    return (
        report.pipeline,
        normalize_time(report.started_at, "started_at") if report.started_at else now,
        normalize_time(report.finished_at, "finished_at") if report.finished_at else None,
        now,
        report.duration_s,
        report.status,
        gate_status,
        report.error.type if report.error else None,
        report.environment.ovq,
        report.environment.openvino,
        report.environment.nncf,
        report.environment.cpu,
        report.config_digest,
        model_digest if model_digest is not None else report.model_digest,
        report.deliverable,
    )


def normalize_time(value: Any, field: str) -> str:
    """ISO-8601 in UTC with one spelling, so that string order is time order in SQL."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{field} {value!r} is not an ISO-8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")
