"""Nightly pipelines fanned out through a sweep executor (`ovq nightly --executor ray`).

The nightly runner stays the driver: it hands over the (pipeline file, run folder) pairs, every pipeline
runs at once through the executor (each benchmark with a node to itself), and then the runner gates,
records history and writes the CI files one pipeline at a time, exactly as without Ray. Each run is
re-measured ("benchmark" never comes from the cache) like a local nightly run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ovq.errors import OvqError, StageError
from ovq.pipeline.run_folder import Terminated
from ovq.sweep.executors import Executor, SweepInterrupted
from ovq.sweep.task import RunResult, RunTask

RunPipeline = Callable[[Path, Path], Mapping[str, Any]]


def nightly_fan_out(executor: Executor, *, fresh: bool = False) -> Callable[[Sequence[tuple[Path, Path]]], RunPipeline]:
    """A `fan_out` for ovq.nightly.runner.run_nightly: runs every pipeline, then hands back each result."""

    def fan_out(planned: Sequence[tuple[Path, Path]]) -> RunPipeline:
        from ovq.config.schema import load_pipeline

        tasks: list[RunTask] = []
        unplanned: dict[Path, OvqError] = {}
        for index, (path, run_dir) in enumerate(planned):
            try:
                config, base_dir = load_pipeline(path)
            except OvqError as exc:
                unplanned[path] = exc  # reported for this pipeline alone; the others still run
                continue
            tasks.append(
                RunTask(
                    run_id=f"{index:03d}",
                    label=path.stem,
                    pipeline=config.name,
                    pipeline_file=str(path),
                    base_dir=str(base_dir),
                    model=config.name,
                    overrides={},
                    config=config.model_dump(mode="json", exclude_unset=True),
                    run_dir=str(run_dir.resolve()),
                    whole_node=any(stage.stage == "benchmark" for stage in config.stages),
                    fresh=fresh,
                    remeasure=("benchmark",),
                    collect="none",
                )
            )
        try:
            results = executor.run(tasks, lambda result: None)
        except SweepInterrupted as stop:
            raise (KeyboardInterrupt() if stop.signum == signal.SIGINT else Terminated()) from None
        by_file = {task.pipeline_file: result for task, result in zip(tasks, results, strict=True)}

        def run_one(path: Path, run_dir: Path) -> Mapping[str, Any]:
            if path in unplanned:
                raise unplanned[path]
            result = by_file[str(path)]
            if result.report is not None:
                # Written now, by the driver: the worker's disk may not be this one.
                from ovq.report.store import write_report

                run_dir.mkdir(parents=True, exist_ok=True)
                write_report(run_dir, result.report)
            if result.status == "succeeded" and result.report is not None:
                return result.report
            raise _error_of(result, run_dir)

        return run_one

    return fan_out


def _error_of(result: RunResult, run_dir: Path) -> Exception:
    """The run's error as the exception the nightly runner would have seen running it in-process."""
    error = result.error or {}
    message = str(error.get("message") or result.status)
    if result.exit_code == 1:
        return RuntimeError(f"{message}\n{result.traceback or ''}".strip())
    cls: type[OvqError] = StageError
    pending: list[type[OvqError]] = [OvqError]
    while pending:
        candidate = pending.pop()
        if candidate.__name__ == error.get("type"):
            cls = candidate
        pending.extend(candidate.__subclasses__())
    exc = cls(message, hint=error.get("hint"), stage=error.get("stage"))
    exc.run_dir = str(run_dir) if result.report is not None else None
    return exc


__all__ = ["nightly_fan_out"]
