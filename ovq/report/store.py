"""The run report: report.json is the contract dashboards and nightly gates read (see docs/report.md).

The document's shape is ``ovq.report.schema.Report``; this module writes it (validated, non-finite numbers
as ``null`` with a reason, never a bare NaN) and reads it (upgrading older schema versions). Everything a
human reads (console table, Markdown, HTML) is rendered from this one document.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ovq.report.schema import SCHEMA_VERSION, Environment, Report, ReportFormatError, ReportLike, parse_report
from ovq.runtime.artifacts import write_text_atomic
from ovq.runtime.environment import environment

__all__ = ["REPORT_FILE", "SCHEMA_VERSION", "new_report", "read_report", "report_json", "write_report"]

REPORT_FILE = "report.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_report(*, pipeline: str, pipeline_file: str | None, config_digest: str) -> dict[str, Any]:
    """A "running" report document; the runner fills it in and hands it to `write_report`."""
    report = Report(
        status="running",
        pipeline=pipeline,
        pipeline_file=pipeline_file,
        config_digest=config_digest,
        started_at=now_iso(),
        environment=Environment.model_validate(environment()),
    )
    return report.to_document()


def report_json(report: ReportLike) -> tuple[Report, str]:
    """The validated report and its report.json text: no NaN or infinity can reach the file."""
    # A Report may hold NaN in an extra field (extras are not validated): its dump is cleaned like a dict.
    document = report.to_document() if isinstance(report, Report) else report
    try:
        model = parse_report(document)
    except ReportFormatError as error:
        # The writer is ovq itself: a document that does not fit the contract is a bug, not a user error.
        raise ReportFormatError(f"ovq built a report that breaks its own contract: {error}") from None
    text = json.dumps(model.to_document(), indent=2, allow_nan=False) + "\n"
    return model, text


def write_report(run_dir: Path, report: Report | dict[str, Any]) -> Path:
    """Write report.json atomically, then the human renderings (which never block the contract).

    A dict passed in is updated in place to exactly what was written (non-finite numbers nulled, the
    reasons in ``nulls``), so the caller never holds numbers the file does not.
    """
    model, text = report_json(report)
    path = run_dir / REPORT_FILE
    write_text_atomic(path, text)
    if isinstance(report, dict):
        report.clear()
        report.update(json.loads(text))
    write_renderings(run_dir, model)
    return path


def write_renderings(run_dir: Path, report: ReportLike) -> list[Path]:
    """report.md and report.html, rendered from the report document alone; returns their paths."""
    from ovq.report.html import render_html
    from ovq.report.markdown import render_markdown

    model = parse_report(report)
    # Both are rendered before either is written, so a rendering bug cannot leave one stale and one new.
    renderings = {run_dir / "report.md": render_markdown(model), run_dir / "report.html": render_html(model)}
    for path, text in renderings.items():
        write_text_atomic(path, text)
    return list(renderings)


def read_report(path: str | os.PathLike[str]) -> Report:
    """Read a report from a run folder (its report.json) or a report.json path, upgraded to this version."""
    from ovq.errors import InputFileError

    path = Path(path)
    report_path = path / REPORT_FILE if path.is_dir() else path
    if not report_path.is_file():
        raise InputFileError(f"no report at {report_path}", hint="pass a run folder written by `ovq pipeline run`")
    try:
        # Python's parser accepts the bare NaN/Infinity version 1 could contain; the upgrade nulls them.
        document = json.loads(report_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputFileError(
            f"{report_path} is not valid JSON: {error}",
            hint="the run may have been interrupted; rerun the pipeline",
        ) from None
    if not isinstance(document, dict):
        raise InputFileError(f"{report_path} does not hold a report object", hint="pass a run's report.json")
    try:
        return parse_report(document)
    except ReportFormatError as error:
        raise InputFileError(
            f"{report_path} is not a readable report: {error}",
            hint="docs/report.md describes the contract; a report from a newer ovq needs a newer ovq",
        ) from None
