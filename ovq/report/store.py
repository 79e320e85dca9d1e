"""The run report: report.json is the contract dashboards and nightly gates read (see docs/report.md).

Fields are added, never renamed or removed without bumping SCHEMA_VERSION. Numbers are numbers. Everything
a human reads (console table, Markdown, HTML) is rendered from this one document.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ovq.runtime.artifacts import write_json_atomic, write_text_atomic
from ovq.runtime.environment import environment

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
        "warnings": [],  # data cast silently, variants that are not what their name says, ...
    }


def write_report(run_dir: Path, report: dict[str, Any]) -> Path:
    """Write report.json atomically, then the human renderings (which never block the contract)."""
    path = run_dir / REPORT_FILE
    write_json_atomic(path, report)
    write_renderings(run_dir, report)
    return path


def write_renderings(run_dir: Path, report: dict[str, Any]) -> list[Path]:
    """report.md and report.html, rendered from the report document alone; returns their paths."""
    from ovq.report.html import render_html
    from ovq.report.markdown import render_markdown

    # Both are rendered before either is written, so a rendering bug cannot leave one stale and one new.
    renderings = {run_dir / "report.md": render_markdown(report), run_dir / "report.html": render_html(report)}
    for path, text in renderings.items():
        write_text_atomic(path, text)
    return list(renderings)


def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report from a run folder (its report.json) or a report.json path."""
    from ovq.errors import InputFileError

    path = Path(path)
    report_path = path / REPORT_FILE if path.is_dir() else path
    if not report_path.is_file():
        raise InputFileError(f"no report at {report_path}", hint="pass a run folder written by `ovq pipeline run`")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputFileError(
            f"{report_path} is not valid JSON: {error}",
            hint="the run may have been interrupted; rerun the pipeline",
        ) from None
    if not isinstance(report, dict):
        raise InputFileError(f"{report_path} does not hold a report object", hint="pass a run's report.json")
    return report
