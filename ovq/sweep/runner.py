"""The sweep driver: plan every run up front, hand the runs to an executor, write what comes back.

Only the driver writes the sweep's files: each run's report.json (when the worker's disk is not the
driver's), the IRs the sweep collects (OUT/artifacts/RUN_ID/VARIANT/), and the sweep report
(OUT/sweep.json, sweep.md, sweep.html). On Ctrl-C or SIGTERM the sweep report is still written, saying
which runs finished, and SweepInterrupted is raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ovq.runtime.artifacts import write_json_atomic, write_text_atomic
from ovq.sweep.executors import Executor, LocalExecutor, SweepInterrupted
from ovq.sweep.plan import plan_sweep
from ovq.sweep.spec import load_sweep
from ovq.sweep.task import RunResult, RunTask

SWEEP_FILE = "sweep.json"


def run_sweep(
    sweep_file: str | Path,
    *,
    out_dir: str | Path | None = None,
    executor: Executor | None = None,
    cache: bool = True,
    fresh: bool = False,
    remeasure: Collection[str] = (),
    on_result: Callable[[RunTask, RunResult], None] | None = None,
) -> dict[str, Any]:
    """Run every combination of a sweep file and return the sweep report (also written to OUT/sweep.json).

    fresh: run every stage again. remeasure: stage kinds never replayed from the cache; ("benchmark",)
    measures every throughput again while export and quantization still come from the cache.

    >>> sweep = run_sweep("pipelines/sweeps/digits_grid.yaml", out_dir="runs/sweep")
    >>> sweep["best"]["quickstart"]["variant"]
    """
    spec, sweep_dir = load_sweep(sweep_file)
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"sweep-{spec.name}-{_stamp()}"
    # Every override is validated here, before any run starts: a bad path is exit 2 with nothing run.
    tasks = plan_sweep(spec, sweep_dir, out, cache=cache, fresh=fresh, remeasure=remeasure)
    out.mkdir(parents=True, exist_ok=True)
    executor = executor or LocalExecutor()
    by_id = {task.run_id: task for task in tasks}
    started, started_at = time.perf_counter(), _now()

    def received(result: RunResult) -> None:
        task = by_id[result.run_id]
        store_result(task, result, out)
        if on_result is not None:
            on_result(task, result)

    stopped_by: int | None = None  # the signal that interrupted the sweep
    try:
        results = executor.run(tasks, received)
    except SweepInterrupted as stop:
        results, stopped_by = stop.results, stop.signum
    from ovq.sweep.summary import build_sweep_report

    sweep = build_sweep_report(
        name=spec.name,
        description=spec.description,
        sweep_file=str(Path(sweep_file).resolve()),
        tasks=tasks,
        results=results,
        executor=executor.describe(),
        started_at=started_at,
        finished_at=_now(),
        duration_s=time.perf_counter() - started,
        stopped_by=stopped_by,
    )
    sweep["out_dir"] = str(out.resolve())
    write_sweep_report(out, sweep)
    if stopped_by is not None:
        raise SweepInterrupted(results, stopped_by)
    return sweep


def store_result(task: RunTask, result: RunResult, out: Path) -> None:
    """The driver's copy of what a task handed back: the run's report and the collected IRs."""
    from ovq.report.store import write_report

    run_dir = Path(task.run_dir)
    if result.report is not None and not _same_report_on_disk(run_dir, result.report):
        # The worker ran on another disk: the driver keeps the report (its renderings come with it).
        run_dir.mkdir(parents=True, exist_ok=True)
        write_report(run_dir, result.report)
    for relative, content in result.artifacts.items():
        path = out / "artifacts" / task.run_id / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def write_sweep_report(out: Path, sweep: dict[str, Any]) -> list[Path]:
    from ovq.sweep.render import render_html, render_markdown

    # Rendered before anything is written: a rendering bug cannot leave the three files disagreeing.
    renderings = {out / "sweep.md": render_markdown(sweep), out / "sweep.html": render_html(sweep)}
    write_json_atomic(out / SWEEP_FILE, sweep)
    for path, text in renderings.items():
        write_text_atomic(path, text)
    return [out / SWEEP_FILE, *renderings]


def _same_report_on_disk(run_dir: Path, report: dict[str, Any]) -> bool:
    path = run_dir / "report.json"
    try:
        on_disk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(on_disk, dict)
        and on_disk.get("started_at") == report.get("started_at")
        and on_disk.get("status") == report.get("status")
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")
