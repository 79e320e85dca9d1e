"""Compile for the CPU plugin with a performance hint, and record what the plugin resolved."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov


# Read back after compiling: what the plugin actually chose, which is what a user needs to reproduce a number.
RESOLVED_PROPERTIES = (
    "PERFORMANCE_HINT",
    "INFERENCE_PRECISION_HINT",
    "EXECUTION_MODE_HINT",
    "NUM_STREAMS",
    "INFERENCE_NUM_THREADS",
    "OPTIMAL_NUMBER_OF_INFER_REQUESTS",
    "ENABLE_HYPER_THREADING",
    "ENABLE_CPU_PINNING",
    "SCHEDULING_CORE_TYPE",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE",
    "KV_CACHE_PRECISION",
)


@dataclass
class CompiledVariant:
    compiled: ov.CompiledModel
    compile_ms: float
    hint: str
    inference_precision: str
    num_requests: int
    num_streams: int | None
    num_threads: int | None
    properties: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hint": self.hint,
            "inference_precision": self.inference_precision,
            "num_requests": self.num_requests,
            "num_streams": self.num_streams,
            "num_threads": self.num_threads,
            "compile_ms": round(self.compile_ms, 3),
            "properties": self.properties,
        }


#: Performance hints by the names ovq and benchmark_app accept; None = no hint (the plugin's own default).
HINTS: dict[str, str | None] = {
    "throughput": "THROUGHPUT",
    "tput": "THROUGHPUT",
    "latency": "LATENCY",
    "cumulative_throughput": "CUMULATIVE_THROUGHPUT",
    "none": None,
}
INFERENCE_PRECISIONS = ("f32", "bf16", "f16")


def compile_config(
    *,
    hint: str | None = "throughput",
    num_requests: int | None = None,
    num_streams: int | str | None = None,
    num_threads: int | None = None,
    inference_precision: str | None = None,
    cache_dir: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plugin configuration for these options (string keys, as benchmark_app and the C++ API use).

    The one builder: the pipeline's compile stage, in-stage validation (accuracy control, QAT,
    escalation) and ``ovq benchmark`` all call it, so the same options mean the same plugin settings.
    ``hint`` is a key of :data:`HINTS` (``None``/``"none"``: no hint). An unknown hint or precision is a
    ConfigError here; a value the plugin itself rejects becomes one in :func:`compile_for`.

    >>> compile_config(hint="latency", num_streams=2)
    {'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': '2'}
    """
    from ovq.errors import ConfigError

    hint_key = "none" if hint is None else hint.lower()
    if hint_key not in HINTS:
        raise ConfigError(f"unknown hint {hint!r}; allowed: {', '.join(HINTS)}")
    if inference_precision is not None and inference_precision not in INFERENCE_PRECISIONS:
        raise ConfigError(
            f"unknown inference precision {inference_precision!r}; allowed: {', '.join(INFERENCE_PRECISIONS)}"
        )
    config: dict[str, Any] = {}
    if HINTS[hint_key] is not None:
        config["PERFORMANCE_HINT"] = HINTS[hint_key]
    if num_requests is not None:
        config["PERFORMANCE_HINT_NUM_REQUESTS"] = str(num_requests)
    if num_streams is not None:
        config["NUM_STREAMS"] = str(num_streams).upper()
    if num_threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(num_threads)
    if inference_precision is not None:
        config["INFERENCE_PRECISION_HINT"] = inference_precision
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    config.update(extra or {})
    return config


def compile_for(
    model: ov.Model | str | Path, config: Mapping[str, Any], *, device: str = "CPU", core: ov.Core | None = None
) -> ov.CompiledModel:
    """``Core.compile_model`` with its failures mapped to ovq errors (see ``ovq.runtime.ov_errors``).

    Every compile in ovq goes through here, so one failure raises one error whichever caller hit it.
    """
    import openvino as ov

    from ovq.runtime.ov_errors import compile_error

    core = core or ov.Core()
    try:
        return core.compile_model(model if not isinstance(model, Path) else str(model), device, dict(config))
    except RuntimeError as exc:
        raise compile_error(exc, device=device, model=model, config=dict(config)) from exc


def compile_model(
    model: ov.Model | str | Path,
    *,
    device: str = "CPU",
    hint: str = "throughput",
    num_requests: int | None = None,
    num_streams: int | str | None = None,
    num_threads: int | None = None,
    inference_precision: str | None = None,
    cache_dir: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> CompiledVariant:
    """Compile for the CPU and read back the resolved runtime properties.

    >>> compiled = compile_model(int8_model, hint="latency")
    >>> compiled.properties["NUM_STREAMS"]
    """
    config = compile_config(
        hint=hint,
        num_requests=num_requests,
        num_streams=num_streams,
        num_threads=num_threads,
        inference_precision=inference_precision,
        cache_dir=cache_dir,
        extra=extra,
    )
    import openvino as ov

    core = ov.Core()
    started = time.perf_counter()
    compiled = compile_for(model, config, device=device, core=core)
    compile_ms = (time.perf_counter() - started) * 1000
    properties = {}
    for name in RESOLVED_PROPERTIES:
        try:
            properties[name] = _plain(compiled.get_property(name))
        except RuntimeError:
            continue  # not every property exists in every plugin version
    return CompiledVariant(
        compiled=compiled,
        compile_ms=compile_ms,
        hint=hint,
        inference_precision=str(properties.get("INFERENCE_PRECISION_HINT", inference_precision or "")),
        num_requests=int(properties.get("OPTIMAL_NUMBER_OF_INFER_REQUESTS", num_requests or 1)),
        num_streams=_as_int(properties.get("NUM_STREAMS")),
        num_threads=_as_int(properties.get("INFERENCE_NUM_THREADS")),
        properties=properties,
    )


def _plain(value: Any) -> Any:
    """Runtime property values (enums, Types) as JSON-friendly plain values."""
    if isinstance(value, bool | int | float | str):
        return value
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name if not hasattr(value, "get_type_name") else value.get_type_name()
    if hasattr(value, "get_type_name"):
        return value.get_type_name()
    return str(value)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ pipeline adapter
