"""Executors place runs; they never decide what runs (that is ovq.sweep.plan) nor write reports (the driver).

An executor takes the planned tasks and a callback, runs every task, calls the callback once per result
as it arrives (the driver writes files there), and returns the results in task order. On Ctrl-C it
stops starting new runs, cancels the ones in flight and raises SweepInterrupted with what finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ovq.sweep.task import RunResult, RunTask, execute_run

OnResult = Callable[[RunResult], None]


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: the results that finished, and the ones cancelled."""

    def __init__(self, results: list[RunResult]) -> None:
        super().__init__("sweep interrupted")
        self.results = results


class Executor(Protocol):
    name: str

    def describe(self) -> dict[str, object]:
        """What the sweep report says about where runs were placed."""
        ...

    def run(self, tasks: Sequence[RunTask], on_result: OnResult) -> list[RunResult]: ...


def cancelled(task: RunTask, reason: str) -> RunResult:
    return RunResult(
        run_id=task.run_id,
        status="cancelled",
        exit_code=130,
        error={"stage": None, "type": "Cancelled", "message": reason, "hint": None},
    )


class LocalExecutor:
    """One run after another in this process: no Ray, nothing to set up (the default)."""

    name = "local"

    def describe(self) -> dict[str, object]:
        return {"executor": self.name}

    def run(self, tasks: Sequence[RunTask], on_result: OnResult) -> list[RunResult]:
        results: list[RunResult] = []
        for index, task in enumerate(tasks):
            try:
                result = execute_run(task)
            except KeyboardInterrupt:
                # run_pipeline already left this run's failed report; the rest never started.
                results.append(cancelled(task, "interrupted while running (Ctrl-C)"))
                results.extend(cancelled(t, "not started: the sweep was interrupted") for t in tasks[index + 1 :])
                raise SweepInterrupted(results) from None
            on_result(result)
            results.append(result)
        return results
