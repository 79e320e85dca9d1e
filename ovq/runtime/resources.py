"""Resources a block of work used: peak resident memory, CPU time and CPU utilisation.

Example::

    with measure_resources() as usage:
        compiled = core.compile_model(model, "CPU")
        benchmark(compiled, duration_s=5)
    usage.peak_rss_bytes, usage.cpu_utilisation   # e.g. 412_000_000, 0.97

Peak memory on Linux is the kernel's high-water mark (``VmHWM`` in /proc/self/status). It is reset at the
start of the block by writing "5" to /proc/self/clear_refs, so the peak covers the block alone; when the
reset is not permitted the peak is the process's since it started (``peak_covers_block`` says which).
Elsewhere the peak comes from ``getrusage`` (since process start).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclasses.dataclass
class ResourceUsage:
    """Numbers for one measured block; filled in when the block ends."""

    wall_s: float = 0.0
    #: CPU time of the whole process (all threads, user + system) during the block.
    cpu_s: float = 0.0
    #: CPUs this process may run on.
    cpu_count: int = 1
    #: cpu_s / wall_s / cpu_count: 1.0 means every allowed core was busy the whole time.
    cpu_utilisation: float | None = None
    #: Peak resident memory (bytes); None when the platform does not tell.
    peak_rss_bytes: int | None = None
    #: Resident memory when the block started (bytes), to tell what the block itself added.
    rss_start_bytes: int | None = None
    #: True when the peak was reset at the start, so it is the block's own; False: since process start.
    peak_covers_block: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (numbers stay numbers)."""
        return dataclasses.asdict(self)


def process_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process, all threads included."""
    return time.process_time()  # CLOCK_PROCESS_CPUTIME_ID: all threads, finer than os.times' 10 ms ticks


def cpu_count() -> int:
    """Number of CPUs this process is allowed to run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:  # not Linux, or not permitted (some containers forbid it)
        return False
    return True


def peak_rss_bytes() -> int | None:
    """The process's peak resident memory so far (since start or since the last reset)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    try:
        import resource
    except ImportError:  # Windows
        return None
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(max_rss if sys.platform == "darwin" else max_rss * 1024)  # bytes on macOS, KiB elsewhere


@contextmanager
def measure_resources(*, reset_peak: bool = True) -> Iterator[ResourceUsage]:
    """Measure wall time, CPU time and utilisation, and peak resident memory of the ``with`` block.

    ``reset_peak=False`` leaves the kernel's high-water mark alone (e.g. inside an outer measurement
    that must see the whole peak). The yielded :class:`ResourceUsage` is filled when the block exits,
    also when it raises.
    """
    usage = ResourceUsage(cpu_count=cpu_count())
    rss_kib = _status_kib("VmRSS")
    usage.rss_start_bytes = rss_kib * 1024 if rss_kib is not None else None
    usage.peak_covers_block = reset_peak and _reset_peak()
    cpu_start, wall_start = process_cpu_s(), time.perf_counter()
    try:
        yield usage
    finally:
        usage.wall_s = time.perf_counter() - wall_start
        usage.cpu_s = process_cpu_s() - cpu_start
        if usage.wall_s > 0:
            usage.cpu_utilisation = usage.cpu_s / usage.wall_s / usage.cpu_count
        usage.peak_rss_bytes = peak_rss_bytes()
