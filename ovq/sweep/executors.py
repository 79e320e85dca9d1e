"""Executors place runs; they never decide what runs (that is ovq.sweep.plan) nor write reports (the driver).

An executor takes the planned tasks and a callback, runs every task, calls the callback once per result
as it arrives (the driver writes files there), and returns the results in task order. On Ctrl-C it
stops starting new runs, cancels the ones in flight and raises SweepInterrupted with what finished.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

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


class StopRequest:
    """Set by the first Ctrl-C; the second one interrupts at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[StopRequest]:
    """The first Ctrl-C asks the executor to stop between runs instead of tearing a run apart mid-call.

    Interrupting OpenVINO or NNCF inside a native call can take the whole process down before the sweep
    report is written; stopping at the next run boundary always leaves the report.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers live in the main thread only; Ctrl-C then interrupts as usual
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


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
        with graceful_interrupt() as stop:
            for index, task in enumerate(tasks):
                if stop.requested:
                    results.extend(cancelled(t, "not started: the sweep was interrupted") for t in tasks[index:])
                    raise SweepInterrupted(results)
                try:
                    result = execute_run(task)
                except KeyboardInterrupt:
                    # A second Ctrl-C: run_pipeline already left this run's failed report.
                    results.append(cancelled(task, "interrupted while running (Ctrl-C twice)"))
                    results.extend(cancelled(t, "not started: the sweep was interrupted") for t in tasks[index + 1 :])
                    raise SweepInterrupted(results) from None
                on_result(result)
                results.append(result)
            if stop.requested:
                raise SweepInterrupted(results)  # Ctrl-C during the last run: it finished, say so
        return results
