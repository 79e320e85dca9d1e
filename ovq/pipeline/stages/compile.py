"""Pipeline adapter for the compile stage (engine: ovq.runtime.compile)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.benchmarking.verdict import size_warning
from ovq.config.stages import CompileStage
from ovq.pipeline.compile_checks import check_int8_executes, profiling_properties
from ovq.pipeline.default_candidate import add_default_candidate
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.runtime.compile import CompiledVariant, compile_model
from ovq.runtime.cpu_class import active_class

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext, Variant


# The CPU plugin's default precision on bf16-capable CPUs is bf16, which is both less accurate and (for many
# models on CPUs without AMX) slower than f32: an honest FP32 baseline must force f32.
REFERENCE_PRECISION = "f32"


def compile_variant(variant: Variant, stage: CompileStage, *, profiling: bool = False) -> CompiledVariant:
    """Compile one pipeline variant with the stage's settings; the FP32 reference always as true f32.

    A variant may override the inference precision (the bf16/default precision variants) or add plugin
    properties (dynamic quantization for weight-compressed variants). profiling: a compiled model of its
    own with per-layer performance counters on (never the one that is timed).
    """
    return compile_model(variant.model_path, **compile_options(variant, stage, profiling=profiling))


def compile_options(variant: Variant, stage: CompileStage, *, profiling: bool = False) -> dict[str, Any]:
    """compile_model's keyword arguments for a variant deployed with `stage` (see compile_variant)."""
    overrides = variant.compile_overrides
    if "inference_precision" in overrides:
        precision = overrides["inference_precision"]  # None: the plugin's default
    elif variant.precision == "fp32":
        precision = REFERENCE_PRECISION
    else:
        precision = stage.inference_precision
    return {
        "hint": stage.hint,
        "num_requests": stage.num_requests,
        "num_streams": stage.num_streams,
        "num_threads": stage.num_threads,
        "inference_precision": precision,
        "cache_dir": stage.cache_dir,
        "extra": {**(overrides.get("properties") or {}), **(profiling_properties(variant) if profiling else {})}
        or None,
    }


class Compile(StageAdapter[CompileStage]):
    config_model = CompileStage

    def run(self, ctx: RunContext, config: CompileStage) -> StageResult:
        from ovq.benchmarking.inputs import random_inputs
        from ovq.runtime.resources import measure_resources

        details: dict[str, Any] = {
            "cpu_class": active_class().name,
            "default_candidate": add_default_candidate(ctx, config),
        }
        reference = ctx.reference
        for variant in ctx.variants.values():
            if variant is not reference and not variant.warnings:
                # Known before any benchmark; the benchmark stage adds the speed warnings.
                found = size_warning(variant.name, variant.size_bytes, reference.name, reference.size_bytes)
                variant.warnings = [found] if found else []
            with ctx.reporter.progress(f"compiling {variant.name}", None), measure_resources() as usage:
                variant.compiled = compile_variant(variant, config)
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
            asked = compile_options(variant, config)["inference_precision"]
            if asked is not None and asked != variant.compiled.inference_precision:
                # The plugin falls back without a word (bf16 on a CPU without bf16 compute runs f32).
                ctx.warn(
                    f"{variant.name}: inference precision {asked} was asked, but this CPU class"
                    f" ({active_class().name}) has no {asked} compute: it runs {variant.compiled.inference_precision}"
                )
            details[variant.name] = {
                "compile_ms": round(variant.compiled.compile_ms, 3),
                "inference_precision": variant.compiled.inference_precision,
            }
            if variant.precision == "int8":
                check_int8_executes(ctx, variant)
        return StageResult(details=details)
