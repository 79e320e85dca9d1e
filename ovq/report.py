"""The run report: report.json is the contract dashboards and nightly gates read (see docs/report.md).

Fields are added, never renamed or removed without bumping SCHEMA_VERSION. Numbers are numbers. Everything
a human reads (console table, Markdown, HTML) is rendered from this one document.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ovq.artifacts import write_json_atomic, write_text_atomic
from ovq.environment import environment

SCHEMA_VERSION = 1
REPORT_FILE = "report.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_report(*, pipeline: str, pipeline_file: str | None, config_digest: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "running",
        "pipeline": pipeline,
        "pipeline_file": pipeline_file,
        "config_digest": config_digest,
        "started_at": now_iso(),
        "finished_at": None,
        "duration_s": None,
        "environment": environment(),
        "stages": [],
        "variants": [],
        "budget": None,
        "deliverable": None,
        "error": None,
    }


def write_report(run_dir: Path, report: dict[str, Any]) -> Path:
    """Write report.json atomically, then the human renderings (which never block the contract)."""
    path = run_dir / REPORT_FILE
    write_json_atomic(path, report)
    write_renderings(run_dir, report)
    return path


def write_renderings(run_dir: Path, report: dict[str, Any]) -> None:
    """report.md and report.html, rendered from the report document alone."""
    from ovq.report_render import render_html, render_markdown

    write_text_atomic(run_dir / "report.md", render_markdown(report))
    write_text_atomic(run_dir / "report.html", render_html(report))


def read_report(run_dir: Path) -> dict[str, Any]:
    from ovq.errors import InputFileError

    path = run_dir / REPORT_FILE if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise InputFileError(f"no report at {path}", hint="pass a run folder written by `ovq pipeline run`")
    report: dict[str, Any] = json.loads(path.read_text())
    return report
