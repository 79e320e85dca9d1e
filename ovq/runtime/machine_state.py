"""The state of the machine a benchmark ran on: measured before and after, never assumed.

A shared CI runner or a busy dev box changes what a measurement means. Each interleaved benchmark records:

- the CPU share the *neighbours* used: all CPUs' busy time from ``/proc/stat`` minus this process's own CPU
  time, over a short idle probe before measuring and over the measurement itself (the load average counts
  ovq's own inference threads too, so it is recorded but never judged on its own);
- the share of CPU time the hypervisor stole (``/proc/stat`` steal);
- a short calibration loop (a fixed pure-Python workload, best of a few) timed before and after: if it ran
  markedly slower after (or faster, where neighbours were seen before), the conditions changed while we measured;
- the load average before and after, for the record.

``busy`` (neighbours took a share of the CPUs) lengthens the protocol; ``changed`` (the conditions moved
during the measurement) flags it in every view.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from ovq.runtime.resources import process_cpu_s

#: Calibration before vs after differing by more than this share means the conditions changed.
CALIBRATION_CHANGE = 0.20
#: A steal share above this during the measurement means the hypervisor took the CPU from us.
STEAL_LIMIT = 0.05
#: Neighbours using more than this share of all CPUs make the machine busy.
BUSY_SHARE = 0.20
#: The neighbours' share moving by more than this between the probe and the measurement: conditions changed.
SHARE_CHANGE = 0.25
#: How long the idle probe before a measurement watches the neighbours.
PROBE_S = 0.1
_CALIBRATION_LOOPS = 3
_CALIBRATION_WORK = 60_000
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def calibration_ms() -> float:
    """Best-of-3 time of a fixed single-core workload, in ms (a few ms on a quiet core)."""
    best = float("inf")
    for _ in range(_CALIBRATION_LOOPS):
        start = time.perf_counter()
        total = 0
        for value in range(_CALIBRATION_WORK):
            total += value * value % 7
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


@dataclasses.dataclass(frozen=True)
class Jiffies:
    """All CPUs' time from /proc/stat, in clock ticks."""

    busy: int
    steal: int
    total: int

    @classmethod
    def read(cls) -> Jiffies | None:
        """None where the kernel has no /proc/stat (not Linux)."""
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = handle.readline().split()
        except OSError:
            return None
        if len(fields) < 5 or fields[0] != "cpu":
            return None
        values = [int(v) for v in fields[1:9]]
        values += [0] * (8 - len(values))
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        # guest time is already counted in user/nice: it is left out of the sum.
        return cls(busy=user + nice + system + irq + softirq, steal=steal, total=sum(values))


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


@dataclasses.dataclass(frozen=True)
class MachineSample:
    """What is sampled at one instant (the start or end of a window)."""

    at: float
    own_cpu_s: float
    jiffies: Jiffies | None
    load_average: float | None
    calibration_ms: float | None = None

    @classmethod
    def now(cls, *, calibrate: bool = False) -> MachineSample:
        calibration = calibration_ms() if calibrate else None  # first: its CPU time is our own, subtracted
        return cls(time.perf_counter(), process_cpu_s(), Jiffies.read(), _load_average(), calibration)


def neighbours_share(start: MachineSample, end: MachineSample) -> float | None:
    """The share of all CPUs that other processes used between two samples (0..1; None: unknown)."""
    wall = end.at - start.at
    if start.jiffies is None or end.jiffies is None or wall <= 0:
        return None
    cpus = os.cpu_count() or 1  # /proc/stat's first line sums every CPU of the machine
    busy_s = (end.jiffies.busy - start.jiffies.busy) / _CLOCK_TICKS
    own_s = end.own_cpu_s - start.own_cpu_s
    return min(max((busy_s - own_s) / (wall * cpus), 0.0), 1.0)


def steal_share(start: MachineSample, end: MachineSample) -> float | None:
    if start.jiffies is None or end.jiffies is None:
        return None
    total = end.jiffies.total - start.jiffies.total
    return (end.jiffies.steal - start.jiffies.steal) / total if total > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class MachineProbe:
    """The machine just before a measurement: an idle window watching the neighbours, then a calibration."""

    neighbours_share: float | None
    sample: MachineSample

    @classmethod
    def take(cls, seconds: float = PROBE_S) -> MachineProbe:
        first = MachineSample.now()
        time.sleep(seconds)
        second = MachineSample.now(calibrate=True)
        return cls(neighbours_share(first, second), second)

    @property
    def busy(self) -> bool:
        return self.neighbours_share is not None and self.neighbours_share > BUSY_SHARE


@dataclasses.dataclass(frozen=True)
class MachineConditions:
    """The conditions a measurement ran under, and whether they held."""

    cores: int
    neighbours_before: float | None
    neighbours_during: float | None
    load_before: float | None
    load_after: float | None
    steal_share: float | None
    calibration_before_ms: float | None
    calibration_after_ms: float | None
    seconds: float
    busy: bool
    changed: bool
    why: list[str]

    @classmethod
    def between(cls, probe: MachineProbe, end: MachineSample) -> MachineConditions:
        start = probe.sample
        during = neighbours_share(start, end)
        steal = steal_share(start, end)
        why: list[str] = []
        changed = False
        before_ms, after_ms = start.calibration_ms, end.calibration_ms
        change = after_ms / before_ms - 1.0 if before_ms and after_ms else 0.0
        # Faster after is what a core does that the idle probe let clock down: it says the conditions changed
        # only when the probe saw neighbours that may have left. Slower after always does.
        if change > CALIBRATION_CHANGE or (change < -CALIBRATION_CHANGE and probe.busy):
            changed = True
            direction = "slower" if change > 0 else "faster"
            why.append(f"a calibration loop ran {abs(change):.0%} {direction} after than before")
        if steal is not None and steal > STEAL_LIMIT:
            changed = True
            why.append(f"the hypervisor stole {steal:.0%} of the CPU time")
        before = probe.neighbours_share
        if before is not None and during is not None and abs(during - before) > SHARE_CHANGE:
            changed = True
            why.append(f"other processes' CPU share went from {before:.0%} to {during:.0%} while measuring")
        busy = probe.busy or (during is not None and during > BUSY_SHARE)
        if busy:
            share = max(x for x in (before, during) if x is not None)
            why.append(f"other processes used {share:.0%} of the CPUs")
        return cls(
            cores=os.cpu_count() or 1,
            neighbours_before=before,
            neighbours_during=during,
            load_before=start.load_average,
            load_after=end.load_average,
            steal_share=steal,
            calibration_before_ms=before_ms,
            calibration_after_ms=after_ms,
            seconds=end.at - start.at,
            busy=busy,
            changed=changed,
            why=why,
        )

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "cores": self.cores,
            "neighbours_before": rounded(self.neighbours_before),
            "neighbours_during": rounded(self.neighbours_during),
            "load_before": rounded(self.load_before, 2),
            "load_after": rounded(self.load_after, 2),
            "steal_share": rounded(self.steal_share, 4),
            "calibration_before_ms": rounded(self.calibration_before_ms),
            "calibration_after_ms": rounded(self.calibration_after_ms),
            "seconds": rounded(self.seconds, 2),
            "busy": self.busy,
            "changed": self.changed,
            "why": list(self.why),
        }
