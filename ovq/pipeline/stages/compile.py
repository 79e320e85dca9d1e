"""Pipeline adapter for the compile stage (engine: ovq.runtime.compile)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.verdict import size_warning
from ovq.runtime.compile import CompiledVariant, compile_config, compile_model

if TYPE_CHECKING:
    from ovq.config.schema import CompileStage
    from ovq.pipeline.context import RunContext, Variant


# The CPU plugin's default precision on bf16-capable CPUs is bf16, which is both less accurate and (for many
# models on CPUs without AMX) slower than f32: an honest FP32 baseline must force f32.
REFERENCE_PRECISION = "f32"


def deployment_config(ctx: RunContext) -> dict[str, Any]:
    """The plugin configuration the pipeline's compile stage will deploy with (for in-stage validation)."""
    from ovq.config.schema import CompileStage

    stage = next((s for s in ctx.config.stages if isinstance(s, CompileStage)), None)
    if stage is None:
        return {}
    return compile_config(
        hint=stage.hint,
        num_streams=stage.num_streams,
        num_threads=stage.num_threads,
        inference_precision=stage.inference_precision,
    )


def compile_variant(variant: Variant, stage: CompileStage, *, profiling: bool = False) -> CompiledVariant:
    """Compile one pipeline variant with the stage's settings; the FP32 reference always as true f32.

    A variant may override the inference precision (the bf16/default precision variants) or add plugin
    properties (dynamic quantization for weight-compressed variants). profiling: a compiled model of its
    own with per-layer performance counters on (never the one that is timed).
    """
    overrides = variant.compile_overrides
    if "inference_precision" in overrides:
        precision = overrides["inference_precision"]  # None: the plugin's default
    elif variant.precision == "fp32":
        precision = REFERENCE_PRECISION
    else:
        precision = stage.inference_precision
    return compile_model(
        variant.model_path,
        hint=stage.hint,
        num_requests=stage.num_requests,
        num_streams=stage.num_streams,
        num_threads=stage.num_threads,
        inference_precision=precision,
        cache_dir=stage.cache_dir,
        extra={**(overrides.get("properties") or {}), **(_profiling_properties(variant) if profiling else {})},
    )


def _profiling_properties(variant: Variant) -> dict[str, Any]:
    """PERF_COUNT, on one stream with the threads one stream of the timed model had.

    A profile runs one request, which in the timed (throughput) model runs on one stream with its share of
    the threads; one stream is what each request sees, and compiling one graph copy instead of several
    keeps profiling cheap.
    """
    properties: dict[str, Any] = {"PERF_COUNT": True}
    info = variant.compile_info or {}
    streams, threads = info.get("num_streams"), info.get("num_threads")
    if isinstance(streams, int) and isinstance(threads, int) and streams > 1:
        properties |= {"NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(max(threads // streams, 1))}
    return properties


#: Name of the variant the compile stage adds: the FP32 IR at the plugin's default inference precision.
DEFAULT_CANDIDATE = "fp32-default"


def is_default_precision(variant: Variant, reference: Variant, plugin_default: str) -> bool:
    """A variant that runs the uncompressed model at the plugin's default precision (declared or added)."""
    overrides = variant.compile_overrides
    return (
        variant is not reference
        and "inference_precision" in overrides
        and overrides["inference_precision"] in (None, plugin_default)
    )


def add_default_candidate(ctx: RunContext, stage: CompileStage) -> dict[str, Any]:
    """Make the FP32 model at the plugin's default precision a candidate (unless declared or opted out).

    On CPUs with bf16 the default is 3.5-5x faster than true f32; a compressed variant is only worth
    shipping if it beats that. Returns what was decided, for the stage's details.
    """
    from ovq.runtime.execution_precision import default_inference_precision

    plugin_default = default_inference_precision()
    reference = ctx.reference
    declared = [v for v in ctx.variants.values() if is_default_precision(v, reference, plugin_default)]
    # One default: a `mode: default` variant before one that names the same precision (`mode: bf16`).
    declared.sort(key=lambda v: v.compile_overrides["inference_precision"] is not None)
    if declared:
        declared[0].role = "default_precision"
    decision: dict[str, Any] = {"plugin_default": plugin_default, "variant": None, "added": False}
    if declared:
        return decision | {"variant": declared[0].name, "reason": "declared by the pipeline"}
    if plugin_default == "f32":
        return decision | {"variant": reference.name, "reason": "the plugin's default is f32: the reference"}
    if not stage.default_candidate:
        return decision | {"reason": "default_candidate: false"}
    name = DEFAULT_CANDIDATE
    while name in ctx.variants:
        name += "_"
    # A fresh variant on the reference's IR (the same file; only the inference precision differs). Made by
    # dataclasses.replace of the reference, so this adapter needs no import of the context module.
    ctx.variants[name] = dataclasses.replace(
        reference,
        name=name,
        source=reference.name,
        compiled=None,
        compile_info=None,
        compile_overrides={"inference_precision": None},
        accuracy={},
        benchmark=None,
        execution_precision=None,
        execution_compute=None,
        outputs={},
        role="default_precision",
        profile=None,
        warnings=[],
    )
    return decision | {"variant": name, "added": True, "reason": f"the plugin's default precision is {plugin_default}"}


def run_stage(ctx: RunContext, stage: CompileStage, index: int, label: str) -> dict[str, Any]:
    from ovq.benchmarking.inputs import random_inputs
    from ovq.runtime.resources import measure_resources

    details: dict[str, Any] = {"default_candidate": add_default_candidate(ctx, stage)}
    reference = ctx.reference
    for variant in ctx.variants.values():
        if variant is not reference and not variant.warnings:
            # Known before any benchmark; the benchmark stage adds the speed warnings.
            found = size_warning(variant.name, variant.size_bytes, reference.name, reference.size_bytes)
            variant.warnings = [found] if found else []
        with ctx.reporter.progress(f"compiling {variant.name}", None), measure_resources() as usage:
            variant.compiled = compile_variant(variant, stage)
            # One inference, so the peak covers what running the model needs, not only compiling it.
            if not any(port.get_partial_shape().is_dynamic for port in variant.compiled.compiled.inputs):
                variant.compiled.compiled.create_infer_request().infer(random_inputs(variant.compiled.compiled))
        variant.compile_info = variant.compiled.to_dict()
        variant.compile_info["memory"] = {
            "peak_rss_bytes": usage.peak_rss_bytes,
            "rss_start_bytes": usage.rss_start_bytes,
            # What compiling this variant and running it once added on top of the process before it.
            "peak_added_bytes": (
                usage.peak_rss_bytes - usage.rss_start_bytes
                if usage.peak_covers_block and usage.peak_rss_bytes and usage.rss_start_bytes
                else None
            ),
            "peak_is_own": usage.peak_covers_block,
        }
        details[variant.name] = {
            "compile_ms": round(variant.compiled.compile_ms, 3),
            "inference_precision": variant.compiled.inference_precision,
        }
    return details
