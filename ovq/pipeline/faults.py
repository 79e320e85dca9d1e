"""Fault injection for the robustness tests: kill or terminate a run at a named point of its work.

`OVQ_FAULT_INJECT=POINT=SIGNAL[@DELAY]` sends SIGNAL (KILL, TERM, INT) to the process itself when the run
reaches POINT, optionally DELAY seconds later (so the signal lands in the middle of the step). Points:
`stage:LABEL` (a stage starts), `progress:TEXT` (a step whose progress description starts with TEXT, e.g.
`progress:calibrating`, `progress:benchmarking`), `cache:store` (an entry is staged, not yet in place) and
`report:final` (the final report is about to be written). Unset, this costs one environment lookup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

FAULT_ENV = "OVQ_FAULT_INJECT"


def checkpoint(point: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    where, _, action = spec.rpartition("=")
    if not point.startswith(where):
        return
    name, _, delay = action.partition("@")
    signum = getattr(signal, f"SIG{name.upper()}")
    if delay:
        timer = threading.Timer(float(delay), os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
    else:
        os.kill(os.getpid(), signum)


class FaultingReporter:
    """Wraps a reporter so that progress steps are fault points too."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None) -> Iterator[Callable[[float], None]]:
        checkpoint(f"progress:{description}")
        with self.inner.progress(description, total) as update:
            yield update
