"""Executors place runs; they never decide what runs (that is ovq.sweep.plan) nor write reports (the driver).

An executor takes the planned tasks and a callback, runs every task, calls the callback once per result
as it arrives (the driver writes files there), and returns the results in task order. On Ctrl-C (SIGINT)
or SIGTERM it stops starting new runs, cancels the ones in flight and raises SweepInterrupted with what
finished and which signal stopped it (exit code 128 + signal: 130, 143).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ovq.pipeline.run_folder import Terminated
from ovq.sweep.task import RunResult, RunTask, execute_run

OnResult = Callable[[RunResult], None]


def signal_exit_code(signum: int) -> int:
    """A process's exit code after a signal stopped it: 130 after Ctrl-C, 143 after SIGTERM (as for a pipeline run)."""
    return 128 + signum


class SweepInterrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM during a sweep: the results that finished, and the ones cancelled."""

    def __init__(self, results: list[RunResult], signum: int = signal.SIGINT) -> None:
        super().__init__("sweep interrupted" if signum == signal.SIGINT else "sweep terminated")
        self.results = results
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return signal_exit_code(self.signum)


class Executor(Protocol):
    name: str

    def describe(self) -> dict[str, object]:
        """What the sweep report says about where runs were placed."""
        ...

    def run(self, tasks: Sequence[RunTask], on_result: OnResult) -> list[RunResult]: ...


class StopRequest:
    """Which signal asked the sweep to stop (None: none yet).

    The first Ctrl-C only asks; the second interrupts at once (KeyboardInterrupt). SIGTERM (`kill`, a CI
    timeout, a container stop) asks, and also interrupts a run under way in this process at once
    (run_folder.Terminated: the run writes its failed report), as it does for `ovq pipeline run`.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.in_run = False  # a run is executing in this process (the local executor)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        if self.signum is None or signum == signal.SIGTERM:
            self.signum = signum  # SIGTERM outranks an earlier Ctrl-C: whoever sent it wants us gone

    @property
    def exit_code(self) -> int:
        return signal_exit_code(self.signum or signal.SIGINT)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """While a run executes in this process: SIGTERM interrupts it at once."""
        self.in_run = True
        try:
            yield
        finally:
            self.in_run = False


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[StopRequest]:
    """SIGINT and SIGTERM ask the executor to stop between runs instead of tearing the driver apart.

    Interrupting OpenVINO or NNCF inside a native call can take the whole process down before the sweep
    report is written; stopping at the next run boundary always leaves the report. Installed after Ray
    starts: the handlers replace Ray's own (its SIGTERM handler aborts the driver with a stack dump).
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers live in the main thread only; Ctrl-C then interrupts as usual
        return

    def handler(signum: int, frame: Any) -> None:
        again = stop.requested
        stop.request(signum)
        if signum == signal.SIGTERM and stop.in_run:
            raise Terminated()
        if signum == signal.SIGINT and again:
            raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def cancelled(task: RunTask, reason: str, exit_code: int = 130) -> RunResult:
    return RunResult(
        run_id=task.run_id,
        status="cancelled",
        exit_code=exit_code,
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

            def interrupted(start: int) -> SweepInterrupted:
                reason = "not started: the sweep was interrupted"
                results.extend(cancelled(t, reason, stop.exit_code) for t in tasks[start:])
                return SweepInterrupted(results, stop.signum or signal.SIGINT)

            for index, task in enumerate(tasks):
                if stop.requested:
                    raise interrupted(index)
                try:
                    with stop.running():
                        result = execute_run(task)
                except (KeyboardInterrupt, Terminated):
                    # A second Ctrl-C or a SIGTERM: run_pipeline already left this run's failed report.
                    stop.request(signal.SIGINT)  # keeps a SIGTERM; records a KeyboardInterrupt raised elsewhere
                    how = "Ctrl-C twice" if stop.signum == signal.SIGINT else "SIGTERM"
                    results.append(cancelled(task, f"interrupted while running ({how})", stop.exit_code))
                    raise interrupted(index + 1) from None
                on_result(result)
                results.append(result)
            if stop.requested:
                raise interrupted(len(tasks))  # a signal during the last run: it finished, say so
        return results
