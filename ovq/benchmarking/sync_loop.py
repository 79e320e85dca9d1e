"""The synchronous measuring loop every baseline runner shares (PyTorch, ONNX Runtime, LiteRT).

A first call timed apart, a few untimed warm-up calls, then calls in a loop until the duration and/or
iteration count is reached (benchmark_app's stopping rule); see ovq.benchmarking.peers for the contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_WARMUP_ITERATIONS = 3

# What the caller may pass as "the model's inputs": one array, a sequence of arrays in the model's input
# order, or a mapping from input name to array.
ModelInputs = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]


def usable_cores() -> int:
    """CPU cores this process may run on (respects taskset/cgroup affinity)."""
    from ovq.runtime.resources import cpu_count

    return cpu_count()


def _as_array_list(inputs: ModelInputs) -> list[np.ndarray]:
    if isinstance(inputs, np.ndarray):
        return [inputs]
    if isinstance(inputs, Mapping):
        return [np.asarray(value) for value in inputs.values()]
    return [np.asarray(value) for value in inputs]


@dataclass(frozen=True)
class Measurement:
    """One measured window of synchronous calls."""

    latencies_ms: list[float]
    duration_s: float
    cpu_s: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput_fps(self) -> float:
        return self.count / self.duration_s if self.duration_s > 0 else 0.0


def _first_call_then_warm_up(call: Callable[[], Any]) -> float:
    """Time the first call (ms), then make the untimed warm-up calls; the same for every baseline runner."""
    start = time.perf_counter()
    call()
    first_ms = (time.perf_counter() - start) * 1000.0
    for _ in range(DEFAULT_WARMUP_ITERATIONS):
        call()
    return first_ms


def _measure_loop(call: Callable[[], object], *, duration_s: float | None, iterations: int | None) -> Measurement:
    from ovq.runtime.resources import process_cpu_s

    if not duration_s and not iterations:
        raise ValueError("give duration_s or iterations")
    timer = time.perf_counter
    latencies_ms: list[float] = []
    cpu_start = process_cpu_s()
    start = timer()
    elapsed = 0.0
    # Same stopping rule as benchmark_app (and ovq's benchmark stage): run until both limits given are met.
    while (iterations and len(latencies_ms) < iterations) or (duration_s and elapsed < duration_s):
        call_start = timer()
        call()
        call_end = timer()
        latencies_ms.append((call_end - call_start) * 1000.0)
        elapsed = call_end - start
    duration = timer() - start
    return Measurement(latencies_ms=latencies_ms, duration_s=duration, cpu_s=process_cpu_s() - cpu_start)
