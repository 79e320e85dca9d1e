"""Benchmark a compiled model with the same definitions as OpenVINO's benchmark_app.

What is replicated from ``openvino/tools/benchmark`` (so that ovq's numbers and benchmark_app's agree):

- the first inference is run and timed on its own before the measurement loop (it is the warm-up);
- the loop keeps every request busy with ``AsyncInferQueue``; it stops when the duration and/or the
  iteration count is reached *and* the iteration count is a multiple of the number of requests, then
  waits for the requests in flight; the duration includes that final wait;
- in iterations mode the count is rounded up to a multiple of the number of requests;
- throughput = batch size x iterations / duration (batch size is 1 unless an input's layout has ``N``);
- latencies are each request's own ``latency`` (ms); percentiles use nearest rank:
  ``sorted[ceil(n * p / 100) - 1]``; "median" is the 50th percentile by that rule;
- inputs are set once per request before the loop (benchmark_app's "inference only" mode), random inputs
  are uniform in [0, 255] from a fixed seed.

Example::

    compiled = ov.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    result = benchmark(compiled, duration_s=10)
    print(result.throughput_fps, result.latency_ms["median"])
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ovq.benchmarking.inputs import (
    batch_size_of,
    fill_request,
    prepare_inputs,
)
from ovq.benchmarking.protocol import MIN_PAIRS
from ovq.errors import ConfigError
from ovq.runtime.execution_precision import runtime_settings
from ovq.runtime.machine_state import MachineConditions, MachineProbe, MachineSample
from ovq.runtime.resources import cpu_count, process_cpu_s

if TYPE_CHECKING:
    from ovq.benchmarking.protocol import Extension

if TYPE_CHECKING:
    import numpy as np
    import openvino as ov

    InputFeed = Mapping[str, np.ndarray] | np.ndarray | tuple[np.ndarray, ...]
    Inputs = InputFeed | Sequence[InputFeed]

ProgressCallback = Callable[[float], None]
Api = Literal["async", "sync"]

#: benchmark_app's default measuring time on CPU when neither a duration nor an iteration count is given.
DEFAULT_DURATION_S = 60.0
#: (max - min) / median of the throughput across repeats above which a measurement is flagged noisy.
NOISY_SPREAD = 0.10
#: The latency percentiles named in the report (besides median/average/min/max).
REPORTED_PERCENTILES = (50, 90, 95, 99)
_PROGRESS_INTERVAL_S = 0.1


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """benchmark_app's percentile: the nearest-rank value ``sorted_values[ceil(n * percent / 100) - 1]``.

    ``percent`` 0 gives the minimum (benchmark_app itself accepts 1..100 only).
    """
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    index = max(math.ceil(len(sorted_values) * percent / 100) - 1, 0)
    return float(sorted_values[index])


@dataclasses.dataclass
class BenchmarkResult:
    """One benchmark measurement (or the median of several repeats) in the report contract's units.

    ``throughput_fps`` is in samples per second, latencies in milliseconds, durations in seconds.
    ``runs`` holds the individual repeats when this result combines several (not serialised).
    """

    hint: str | None
    inference_precision: str | None
    num_requests: int
    num_streams: int | None
    num_threads: int | None
    count: int
    duration_s: float
    throughput_fps: float
    latency_ms: dict[str, float]
    latency_percentiles_ms: list[float]
    first_inference_ms: float | None
    compile_ms: float | None = None
    repeats: int = 1
    throughput_fps_runs: list[float] = dataclasses.field(default_factory=list)
    spread: float = 0.0
    noisy: bool = False
    api: str = "async"
    batch_size: int = 1
    cpu_utilisation: float | None = None
    # The machine's conditions over the whole interleaved measurement (ovq.runtime.machine_state).
    machine: dict[str, Any] | None = None
    runs: list[BenchmarkResult] = dataclasses.field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The report contract's ``benchmark`` block (exactly its fields)."""
        return {name: copy.copy(getattr(self, name)) for name in CONTRACT_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. a cached stage record or a report)."""
        return cls(**{name: copy.copy(data[name]) for name in CONTRACT_FIELDS if name in data})


#: The fields of the report contract's ``benchmark`` block, in order.
CONTRACT_FIELDS = (
    "hint", "inference_precision", "num_requests", "num_streams", "num_threads", "count", "duration_s",
    "throughput_fps", "latency_ms", "latency_percentiles_ms", "first_inference_ms", "compile_ms",
    "repeats", "throughput_fps_runs", "spread", "noisy", "machine",
)  # fmt: skip


# --------------------------------------------------------------------------------------------- measuring


def benchmark(
    compiled_model: ov.CompiledModel,
    inputs: Inputs | None = None,
    *,
    duration_s: float | None = None,
    iterations: int | None = None,
    warmup_iterations: int = 0,
    num_requests: int | None = None,
    compile_ms: float | None = None,
    progress: ProgressCallback | None = None,
    api: Api = "async",
) -> BenchmarkResult:
    """Measure a compiled model like benchmark_app: first inference, then a loop of inference requests.

    Args:
        compiled_model: the model compiled for its device with its hint/streams/precision.
        inputs: one feed or a list of feeds (see :func:`prepare_inputs`); request ``i`` gets feed
            ``i % len(feeds)`` once, before the loop. ``None``: random data for static input shapes.
        duration_s: measure for at least this long (seconds).
        iterations: run at least this many inferences (async: rounded up to a multiple of the requests).
            With neither, benchmark_app's CPU default of 60 s is used; with both, both must be reached.
        warmup_iterations: extra untimed inferences after the first one (benchmark_app runs none).
        num_requests: parallel requests; default is the plugin's OPTIMAL_NUMBER_OF_INFER_REQUESTS.
        compile_ms: the model's compile time, measured by the caller, copied into the result.
        progress: called with the fraction done (0..1), at most ~10 times per second.
        api: "async" (AsyncInferQueue) or "sync" (one request, blocking calls: benchmark_app's choice
            for the latency hint).
    """
    feeds = prepare_inputs(compiled_model, inputs)
    import openvino as ov

    limits = {"duration_s": duration_s, "iterations": iterations, "num_requests": num_requests}
    for label, value in limits.items():
        # `not value < inf` also refuses NaN: an endless benchmark is a hang, not a measurement.
        if value is not None and not (0 < value < float("inf")):
            raise ConfigError(f"benchmark {label} must be a positive finite number, got {value}")
    if warmup_iterations < 0 or api not in ("async", "sync"):
        raise ConfigError(f"need warmup_iterations >= 0 and api async|sync, got {warmup_iterations}, {api}")
    if duration_s is None and iterations is None:
        duration_s = DEFAULT_DURATION_S
    settings = runtime_settings(compiled_model)
    reporter = _ProgressReporter(progress, duration_s, iterations)
    cpu_start, wall_start = process_cpu_s(), time.perf_counter()

    if api == "sync":
        request = compiled_model.create_infer_request()
        fill_request(request, feeds[0])
        times, total_s, count, first_ms = _sync_loop(request, duration_s, iterations, warmup_iterations, reporter)
        nireq = 1
    else:
        nireq = num_requests or settings["optimal_num_requests"] or 1
        queue = ov.AsyncInferQueue(compiled_model, nireq)
        nireq = len(queue)
        for request_id in range(nireq):
            fill_request(queue[request_id], feeds[request_id % len(feeds)])
        if iterations is not None:
            iterations = math.ceil(iterations / nireq) * nireq
        times, total_s, count, first_ms = _async_loop(queue, nireq, duration_s, iterations, warmup_iterations, reporter)

    cpu_s, wall_s = process_cpu_s() - cpu_start, time.perf_counter() - wall_start
    reporter.done()
    batch = batch_size_of(compiled_model, feeds[0])
    throughput = batch * count / total_s
    return BenchmarkResult(
        hint=settings["hint"],
        inference_precision=settings["inference_precision"],
        num_requests=nireq,
        num_streams=settings["num_streams"],
        num_threads=settings["num_threads"],
        count=count,
        duration_s=total_s,
        throughput_fps=throughput,
        latency_ms=_latency_summary(times),
        latency_percentiles_ms=[percentile(times, p) for p in range(101)],
        first_inference_ms=first_ms,
        compile_ms=compile_ms,
        repeats=1,
        throughput_fps_runs=[throughput],
        api=api,
        batch_size=batch,
        cpu_utilisation=cpu_s / wall_s / cpu_count() if wall_s > 0 else None,
    )


def _async_loop(
    queue: ov.AsyncInferQueue,
    nireq: int,
    duration_s: float | None,
    iterations: int | None,
    warmup_iterations: int,
    reporter: _ProgressReporter,
) -> tuple[list[float], float, int, float]:
    # benchmark_app.first_infer: one request, timed by the runtime, not part of the statistics.
    first_id = queue.get_idle_request_id()
    queue.start_async()
    queue.wait_all()
    first_ms = float(queue[first_id].latency)
    for _ in range(warmup_iterations):
        queue.start_async()
    queue.wait_all()

    timer = time.perf_counter
    times: list[float] = []
    in_fly: set[int] = set()
    iteration = 0
    exec_time = 0.0
    start = timer()
    # The loop mirrors benchmark_app.async_inference_only line by line: same stop rule, same latency
    # bookkeeping (a request's latency is collected when it is reused, the rest after the final wait).
    while (iterations and iteration < iterations) or (duration_s and exec_time < duration_s) or (iteration % nireq):
        idle_id = queue.get_idle_request_id()
        if idle_id in in_fly:
            times.append(queue[idle_id].latency)
        else:
            in_fly.add(idle_id)
        queue.start_async()
        iteration += 1
        exec_time = timer() - start
        if exec_time >= reporter.next_at:
            reporter.report(exec_time, iteration)
    queue.wait_all()
    total_s = max(timer() - start, _TIMER_RESOLUTION)
    for request_id in in_fly:
        times.append(queue[request_id].latency)
    times.sort()
    return times, total_s, iteration, first_ms


def _sync_loop(
    request: ov.InferRequest,
    duration_s: float | None,
    iterations: int | None,
    warmup_iterations: int,
    reporter: _ProgressReporter,
) -> tuple[list[float], float, int, float]:
    request.infer()
    first_ms = float(request.latency)
    for _ in range(warmup_iterations):
        request.infer()

    timer = time.perf_counter
    times: list[float] = []
    iteration = 0
    exec_time = 0.0
    start = timer()
    while (iterations and iteration < iterations) or (duration_s and exec_time < duration_s):
        request.infer()
        times.append(request.latency)
        iteration += 1
        exec_time = timer() - start
        if exec_time >= reporter.next_at:
            reporter.report(exec_time, iteration)
    total_s = max(timer() - start, _TIMER_RESOLUTION)
    times.sort()
    return times, total_s, iteration, first_ms


_TIMER_RESOLUTION = time.get_clock_info("perf_counter").resolution


def _latency_summary(sorted_times: Sequence[float]) -> dict[str, float]:
    summary = {
        "median": percentile(sorted_times, 50),
        "average": sum(sorted_times) / len(sorted_times),
        "min": float(sorted_times[0]),
        "max": float(sorted_times[-1]),
    }
    for p in REPORTED_PERCENTILES:
        summary[f"p{p}"] = percentile(sorted_times, p)
    return summary


class _ProgressReporter:
    """Turns loop state into a 0..1 fraction and calls the user's callback at a bounded rate."""

    def __init__(self, callback: ProgressCallback | None, duration_s: float | None, iterations: int | None):
        self._callback, self._duration_s, self._iterations = callback, duration_s, iterations
        self.next_at = _PROGRESS_INTERVAL_S if callback is not None else math.inf  # inf: never called

    def report(self, exec_time: float, iteration: int) -> None:
        # With both limits the loop runs until both are reached, so the slower one tells the progress.
        fractions = [exec_time / self._duration_s] if self._duration_s else []
        fractions += [iteration / self._iterations] if self._iterations else []
        if self._callback is not None and fractions:
            self._callback(min(1.0, *fractions))
        self.next_at = exec_time + _PROGRESS_INTERVAL_S

    def done(self) -> None:
        if self._callback is not None:
            self._callback(1.0)


# --------------------------------------------------------------------------------------------- repeats


def combine_runs(runs: Sequence[BenchmarkResult], *, noisy_threshold: float = NOISY_SPREAD) -> BenchmarkResult:
    """Fold repeated measurements of one model into one result.

    Headline numbers are medians across repeats (throughput, each latency statistic, each percentile);
    ``count`` and ``duration_s`` are totals over the repeats; the first inference time is the first
    repeat's (later repeats are warm). ``spread`` = (max - min) / median of the throughputs, and the
    result is ``noisy`` when the spread exceeds ``noisy_threshold``.
    """
    if not runs:
        raise ValueError("combine_runs needs at least one run")
    first = runs[0]
    throughputs = [run.throughput_fps for run in runs]
    median_throughput = statistics.median(throughputs)
    spread = (max(throughputs) - min(throughputs)) / median_throughput if median_throughput > 0 else 0.0
    latency_ms = {key: statistics.median(run.latency_ms[key] for run in runs) for key in first.latency_ms}
    percentiles = [
        statistics.median(run.latency_percentiles_ms[index] for run in runs)
        for index in range(len(first.latency_percentiles_ms))
    ]
    utilisations = [run.cpu_utilisation for run in runs if run.cpu_utilisation is not None]
    return dataclasses.replace(
        first,
        count=sum(run.count for run in runs),
        duration_s=sum(run.duration_s for run in runs),
        throughput_fps=median_throughput,
        latency_ms=latency_ms,
        latency_percentiles_ms=percentiles,
        repeats=len(runs),
        throughput_fps_runs=throughputs,
        spread=spread,
        noisy=spread > noisy_threshold,
        cpu_utilisation=statistics.median(utilisations) if utilisations else None,
        runs=list(runs),
    )


def benchmark_interleaved(
    compiled_models: Mapping[str, ov.CompiledModel],
    inputs: Mapping[str, Inputs | None] | None = None,
    *,
    repeats: int = 3,
    duration_s: float | None = None,
    iterations: int | None = None,
    warmup_iterations: int = 0,
    num_requests: int | Mapping[str, int | None] | None = None,
    compile_ms: Mapping[str, float | None] | None = None,
    noisy_threshold: float = NOISY_SPREAD,
    progress: ProgressCallback | None = None,
    api: Api = "async",
    on_run: Callable[[str, int, BenchmarkResult], None] | None = None,
    extension: Extension | None = None,
) -> dict[str, BenchmarkResult]:
    """Benchmark several variants in turns A, B, C, C, B, A, ... so machine drift hits them all alike.

    Each variant's result is :func:`combine_runs` over its repeats (medians, spread, noisy flag), with
    the individual runs in ``.runs`` for :func:`paired_speedup`. ``inputs``, ``num_requests`` and
    ``compile_ms`` are keyed by variant name (a missing name means random inputs / the plugin's
    default / unknown). ``on_run(name, repeat, result)`` is called after every single run.

    The machine's state is sampled before and after (``machine`` on every result). With an ``extension``,
    a busy machine adds rounds up front, and rounds go on (up to its repeat and time caps) while one of
    its comparisons is undecided (see :mod:`ovq.benchmarking.protocol`): a noisy machine lengthens the
    protocol instead of producing a confident wrong ratio.
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    if not compiled_models:
        raise ConfigError("benchmark_interleaved needs at least one compiled model")
    inputs = inputs or {}
    unknown = sorted(set(inputs) - set(compiled_models))
    if unknown:
        raise ConfigError(f"inputs given for unknown variant(s) {unknown}; variants are {list(compiled_models)}")
    # Inputs are checked (and random ones made) once, before any measurement: a bad feed must not fail
    # the run halfway. Re-checking the resolved feeds in benchmark() costs microseconds.
    feeds = {name: _as_tuples(prepare_inputs(model, inputs.get(name))) for name, model in compiled_models.items()}

    before = MachineProbe.take()
    if extension is not None and before.busy:
        repeats = min(repeats + extension.busy_extra_repeats, max(extension.max_repeats, repeats))
    total_runs = repeats * len(compiled_models)
    runs: dict[str, list[BenchmarkResult]] = {name: [] for name in compiled_models}
    done = 0
    extended_since: float | None = None  # when the first round beyond `repeats` started
    repeat = 0
    while True:
        if repeat >= repeats:
            # Decide or extend: one more round while a comparison is undecided and the caps allow it.
            if extension is None or repeat >= extension.max_repeats:
                break
            extended_since = extended_since or time.perf_counter()
            # The time cap applies past the fewest pairs a verdict needs: fewer could never decide anything.
            if time.perf_counter() - extended_since > extension.time_cap_s and repeat >= MIN_PAIRS:
                break
            throughputs = {name: [r.throughput_fps for r in name_runs] for name, name_runs in runs.items()}
            if not extension.undecided(throughputs):
                break
            total_runs += len(compiled_models)
        # A, B, C then C, B, A: a pair's two runs swap places every round, so whatever favours the first
        # (or the second) of a round (a core clocking up, a neighbour's period) cancels in the paired ratios.
        order = list(compiled_models.items())
        for name, model in order if repeat % 2 == 0 else reversed(order):
            sub_progress = _scaled_progress(progress, done, total_runs)
            requests = num_requests.get(name) if isinstance(num_requests, Mapping) else num_requests
            result = benchmark(
                model,
                feeds[name],
                duration_s=duration_s,
                iterations=iterations,
                warmup_iterations=warmup_iterations,
                num_requests=requests,
                compile_ms=(compile_ms or {}).get(name),
                progress=sub_progress,
                api=api,
            )
            runs[name].append(result)
            done += 1
            if on_run is not None:
                on_run(name, repeat, result)
        repeat += 1
    machine = MachineConditions.between(before, MachineSample.now(calibrate=True)).to_dict()
    combined = {name: combine_runs(name_runs, noisy_threshold=noisy_threshold) for name, name_runs in runs.items()}
    for result in combined.values():
        result.machine = machine
        # A machine whose conditions changed mid-measurement makes every ratio suspect: say so as noise.
        result.noisy = result.noisy or bool(machine["changed"])
    return combined


def _as_tuples(feeds: Sequence[Mapping[int, np.ndarray]]) -> list[tuple[np.ndarray, ...]]:
    return [tuple(feed[index] for index in range(len(feed))) for feed in feeds]


def _scaled_progress(progress: ProgressCallback | None, offset: int, total: int) -> ProgressCallback | None:
    """Map one run's 0..1 progress into its slot of the whole interleaved schedule."""
    if progress is None:
        return None
    callback = progress
    return lambda fraction: callback((offset + fraction) / total)


def paired_speedup(
    variant: BenchmarkResult,
    baseline: BenchmarkResult,
    *,
    metric: Literal["throughput", "latency"] = "throughput",
) -> float:
    """Speed-up of ``variant`` over ``baseline``: the median of per-repeat ratios (> 1 means faster).

    Repeat ``i`` of both was measured back to back by :func:`benchmark_interleaved`, so pairing them
    cancels slow drift. ``metric="throughput"`` compares FPS; ``"latency"`` compares median latency
    (baseline / variant). Results rebuilt from JSON (no ``runs``) pair ``throughput_fps_runs``.
    """
    if metric not in ("throughput", "latency"):
        raise ConfigError(f"metric must be 'throughput' or 'latency', got {metric!r}")

    def speeds(result: BenchmarkResult) -> list[float]:
        if metric == "latency":
            return [1.0 / run.latency_ms["median"] for run in result.runs or [result]]
        return [run.throughput_fps for run in result.runs] or result.throughput_fps_runs or [result.throughput_fps]

    pairs = list(zip(speeds(variant), speeds(baseline), strict=False))
    return float(statistics.median(ours / theirs for ours, theirs in pairs))


def speedup_table(
    results: Mapping[str, BenchmarkResult],
    baseline: str,
    *,
    metric: Literal["throughput", "latency"] = "throughput",
) -> dict[str, float]:
    """:func:`paired_speedup` of every variant over the ``baseline`` variant (the baseline gets 1.0)."""
    if baseline not in results:
        raise ConfigError(f"baseline variant {baseline!r} was not benchmarked; variants are {list(results)}")
    return {name: paired_speedup(result, results[baseline], metric=metric) for name, result in results.items()}
