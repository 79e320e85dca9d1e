"""A run's folder: named safely, claimed before any work, never mixing two runs' files.

A run folder holds one run. Before any stage runs, the folder is claimed: a `running` report replaces any
earlier report first, then the earlier run's files are cleared, so a kill at any moment leaves a report
that never describes files that are not there (nor an old "succeeded" beside new files). A folder holding
another pipeline's run, or files that are no run at all, is refused unless `overwrite` clears it.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from ovq.errors import InputFileError

REPORT_FILE = "report.json"
# Kept across reruns of the same config: QAT resumes a killed fine-tune from them.
RESUMABLE = ("checkpoints",)
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def safe_folder_name(name: str) -> str:
    """A pipeline name made into one harmless path component: no separators, no `..`, no leading dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "pipeline"
    return cleaned[:100]


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{safe_folder_name(name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def claim(run_dir: Path, *, pipeline: str, config_digest: str, overwrite: bool, running_report: Any) -> None:
    """Make run_dir this run's own: write the running report, then clear what an earlier run left.

    `running_report` is a callable that writes the `running` report into run_dir.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise InputFileError(f"the run folder {run_dir} is a file", hint="pass -o a folder path")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        entries = list(run_dir.iterdir())
    except OSError as error:
        raise InputFileError(
            f"cannot create the run folder {run_dir}: {error.strerror or error}",
            hint="pass -o a folder you can write to",
        ) from None
    earlier = _earlier_run(run_dir) if entries else None
    keep: set[str] = {REPORT_FILE}
    if entries and not overwrite:
        if earlier is None:
            raise InputFileError(
                f"{run_dir} is not empty and holds no ovq run",
                hint="choose another -o folder, or pass --overwrite to clear it",
            )
        if earlier.get("pipeline") != pipeline:
            raise InputFileError(
                f"{run_dir} holds a run of another pipeline ({earlier.get('pipeline')!r})",
                hint="choose another -o folder, or pass --overwrite to clear it",
            )
        if earlier.get("config_digest") == config_digest:
            keep.update(RESUMABLE)
    # The running report first: from now on no report describes the earlier run's files.
    running_report()
    for entry in entries:
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def _earlier_run(run_dir: Path) -> dict[str, Any] | None:
    try:
        report = json.loads((run_dir / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and "pipeline" in report else None


class Terminated(SystemExit):
    """SIGTERM (CI cancellation, `timeout`, a container stop) ends a run like Ctrl-C, with exit code 143."""

    def __init__(self) -> None:
        super().__init__(SIGTERM_EXIT_CODE)

    def __str__(self) -> str:
        return "terminated by SIGTERM"


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While a run is under way, SIGTERM raises Terminated so the run still writes its failed report.

    Only in the main thread (the only one Python delivers signals to) and only over the default handler:
    a host application's own SIGTERM handling is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
