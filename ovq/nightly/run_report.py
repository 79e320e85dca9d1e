"""The report of one nightly pipeline run, parsed once into a `Report`.

What ``run_pipeline`` returned, or, when it raised, the report.json the run left in its folder; a failed
report made here when there is none. A document that does not parse as a report is a bug in ovq (exit 1):
it becomes a failed report whose error names the problem, never a report accepted as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from ovq import errors
from ovq.errors import OvqError
from ovq.report.schema import Environment, Report, ReportError, ReportFormatError, parse_report
from ovq.runtime.environment import environment


def returned_report(returned: object, path: Path, started_at: str) -> tuple[Report, int]:
    """What run_pipeline returned, parsed once, and the exit code it stands for (0 unless it is no report).

    Something that is not a readable report is a bug (exit 1) and becomes a failed report naming the problem.
    The run folder's report.json is not consulted then: run_pipeline returned, so what it returned is the
    run's result; the file could only be the same broken document or one the run did not hand back.
    """
    if not isinstance(returned, Report | Mapping):
        message = f"run_pipeline returned {type(returned).__name__}, not a report dict"
        return _failed_report(path, started_at, bug_error("TypeError", message)), 1
    try:
        return parse_report(returned), 0
    except ReportFormatError as problem:
        message = f"run_pipeline returned a document that is not a readable report: {problem}"
        return _failed_report(path, started_at, bug_error("ReportFormatError", message)), 1


def report_of_failure(
    path: Path, written_to: Path, started_at: str, since: float, error: ReportError, exit_code: int
) -> tuple[Report, int]:
    """The report of a run that raised (the one it wrote, else one made from its error) and its exit code."""
    try:
        written = _report_on_disk(written_to, since=since)
    except ReportFormatError as problem:
        # The run's own account of how it failed breaks the contract: a bug, whatever the run's error was.
        where = f" in stage {error.stage}" if error.stage else ""
        message = f"{problem} (the run failed{where} with {error.type}: {error.message})"
        return _failed_report(path, started_at, bug_error("ReportFormatError", message)), 1
    return written or _failed_report(path, started_at, error), exit_code


def bug_error(
    error_type: str,
    message: str,
    hint: str = "a run's report must fit the contract (docs/report.md); this is a bug in ovq",
) -> ReportError:
    """An error block for something that is ovq's fault, not the pipeline's (exit code 1)."""
    return ReportError(stage=None, type=error_type, message=message, hint=hint)


def exit_code_of(error: ReportError | None) -> int:
    """The exit code of a report's error block, from its error class name."""
    if error is None:
        return errors.StageError.exit_code
    return _error_codes().get(error.type, errors.StageError.exit_code)


def _error_codes() -> dict[str, int]:
    codes: dict[str, int] = {}
    pending: list[type[OvqError]] = [OvqError]
    while pending:
        cls = pending.pop()
        codes[cls.__name__] = cls.exit_code
        pending.extend(cls.__subclasses__())
    return codes


def _report_on_disk(run_dir: Path, *, since: float) -> Report | None:
    """The report the failed run wrote, if it wrote one (an older one in a reused folder is not it).

    None when there is none, or only a "running" one (the run stopped before saying how it ended); a
    ReportFormatError when the run wrote a report.json that does not parse as a report.
    """
    path = run_dir / "report.json"
    try:
        if path.stat().st_mtime < since - 1.0:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        report = parse_report(json.loads(raw.decode("utf-8")))
    except ValueError as problem:  # not UTF-8, not JSON, or not a report (ReportFormatError is a ValueError)
        raise ReportFormatError(f"{path} is not a readable report: {problem}") from None
    return report if report.status in ("succeeded", "failed") else None


def _failed_report(path: Path, started_at: str, error: ReportError) -> Report:
    """A report in the contract's shape for a run that failed before writing its own."""
    finished_at = datetime.now(timezone.utc).isoformat()
    return Report(
        status="failed",
        pipeline=path.stem,
        pipeline_file=str(path),
        started_at=started_at,
        finished_at=finished_at,
        duration_s=(datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds(),
        environment=Environment.model_validate(environment()),
        error=error,
    )
