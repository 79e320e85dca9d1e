"""Runtime settings a deployment can choose (hint, streams, requests, threads, batch) and a latency SLA.

A setting is measured by compiling the model with it and benchmarking with benchmark_app's definitions
(``ovq.benchmarking.engine``); several (variant, setting) pairs are measured interleaved so that the drift
of a shared machine hits them alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ovq.errors import ConfigError

if TYPE_CHECKING:
    import openvino as ov

    from ovq.benchmarking.engine import BenchmarkResult
    from ovq.benchmarking.protocol import Extension


@dataclass(frozen=True)
class RuntimeSetting:
    """How a variant is compiled and driven: the plugin's hint, streams, requests, threads, and batch size."""

    hint: str = "throughput"
    num_streams: int | None = None
    num_requests: int | None = None
    num_threads: int | None = None
    batch_size: int = 1

    @property
    def label(self) -> str:
        parts = [self.hint]
        for name, value in (
            ("streams", self.num_streams),
            ("requests", self.num_requests),
            ("threads", self.num_threads),
        ):
            if value is not None:
                parts.append(f"{name}={value}")
        if self.batch_size != 1:
            parts.append(f"batch={self.batch_size}")
        return ",".join(parts)

    def compile_properties(self) -> dict[str, Any]:
        from ovq.runtime.compile import compile_config

        return compile_config(hint=self.hint, num_streams=self.num_streams, num_threads=self.num_threads)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Settings tried when none are given: what each hint plans, and one stream with every request in flight.
DEFAULT_SETTINGS = (
    RuntimeSetting("throughput"),
    RuntimeSetting("latency"),
    RuntimeSetting("throughput", num_streams=1),
)


@dataclass(frozen=True)
class LatencySla:
    """A latency promise: the ``percentile`` latency of a request must be at most ``max_ms``."""

    max_ms: float
    percentile: int = 99

    def __post_init__(self) -> None:
        if not self.max_ms > 0 or not 1 <= self.percentile <= 100:
            raise ConfigError(f"latency SLA needs max_ms > 0 and percentile in 1..100, got {self}")

    def latency_of(self, result: BenchmarkResult) -> float:
        return float(result.latency_percentiles_ms[self.percentile])

    def holds(self, result: BenchmarkResult) -> bool:
        return self.latency_of(result) <= self.max_ms

    def describe(self) -> str:
        return f"p{self.percentile} <= {self.max_ms:g} ms"


def parse_sla(text: str) -> LatencySla:
    """``"p99<=15"`` or ``"p99<=15ms"`` or ``"15"`` (p99) -> LatencySla; ConfigError otherwise."""
    import re

    match = re.fullmatch(r"\s*(?:p(\d{1,3})\s*<=?\s*)?([0-9.]+)\s*(?:ms)?\s*", text)
    if match is None:
        raise ConfigError(f"latency SLA {text!r} is not understood", hint="write it as p99<=15ms")
    return LatencySla(max_ms=float(match.group(2)), percentile=int(match.group(1) or 99))


def with_batch(model: ov.Model, batch_size: int) -> ov.Model | None:
    """A copy of ``model`` with every input's first dimension set to ``batch_size``; None if it cannot be."""
    if batch_size == 1:
        return model
    clone = model.clone()
    try:
        shapes = {}
        for port in clone.inputs:
            shape = port.get_partial_shape()
            shape[0] = batch_size
            shapes[port] = shape
        clone.reshape(shapes)
    except RuntimeError:
        return None
    return clone


def measure(
    models: Mapping[str, ov.Model],
    pairs: Sequence[tuple[str, RuntimeSetting]],
    *,
    inputs: Mapping[str, Any] | None = None,
    duration_s: float = 1.0,
    repeats: int = 3,
    extension: Extension | None = None,
) -> dict[tuple[str, RuntimeSetting], BenchmarkResult | str]:
    """Benchmark each (variant, setting) interleaved; a setting the model cannot take gives a reason string.

    Throughput is per sample: a batched setting's inferences count ``batch_size`` samples each. With an
    ``extension``, rounds are added while a comparison it names is undecided (see protocol.Extension).
    """
    import dataclasses

    from ovq.benchmarking.engine import benchmark_interleaved
    from ovq.runtime.compile import compile_model

    compiled: dict[str, Any] = {}
    keys: dict[str, tuple[str, RuntimeSetting]] = {}
    outcome: dict[tuple[str, RuntimeSetting], BenchmarkResult | str] = {}
    requests: dict[str, int | None] = {}
    feeds: dict[str, Any] = {}
    for variant, setting in pairs:
        model = with_batch(models[variant], setting.batch_size)
        if model is None:
            outcome[(variant, setting)] = f"the model cannot be reshaped to batch {setting.batch_size}"
            continue
        key = f"{variant}@{setting.label}"
        compiled[key] = compile_model(
            model, hint=setting.hint, num_streams=setting.num_streams, num_threads=setting.num_threads
        ).compiled
        keys[key] = (variant, setting)
        requests[key] = setting.num_requests
        if setting.batch_size == 1 and inputs and variant in inputs:
            feeds[key] = inputs[variant]
    # The extension judges inferences/s (a batched setting is scaled to samples below): it only decides how
    # many rounds to measure, and an interval's width does not depend on that scale.
    results = benchmark_interleaved(
        compiled,
        feeds,
        repeats=repeats,
        duration_s=duration_s,
        num_requests=requests,
        warmup_iterations=2,
        extension=extension,
    )
    for key, result in results.items():
        variant, setting = keys[key]
        if setting.batch_size != 1 and result.batch_size == 1:
            # The engine counts samples from an input layout with N; a plain reshaped IR has none.
            result = dataclasses.replace(
                result,
                throughput_fps=result.throughput_fps * setting.batch_size,
                throughput_fps_runs=[value * setting.batch_size for value in result.throughput_fps_runs],
                runs=[
                    dataclasses.replace(run, throughput_fps=run.throughput_fps * setting.batch_size)
                    for run in result.runs
                ],
            )
        outcome[(variant, setting)] = result
    return outcome
