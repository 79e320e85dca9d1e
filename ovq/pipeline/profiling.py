"""Why a variant is fast or slow: per-layer profiles and honest warnings, for the benchmark stage.

Profiles are taken after the timed runs, each variant on a compiled model of its own with PERF_COUNT (never
the timed one); the engine is ovq.runtime.profile. Warnings (slower than the plugin's default precision or
than true f32 beyond noise, larger than FP32) carry the likely reason from the profile; the text is stored
per variant so every view shows the same words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ovq.config.benchmark_stage import BenchmarkStage
    from ovq.pipeline.context import RunContext, Variant


def profile_variants(ctx: RunContext, stage: BenchmarkStage, default: Variant | None) -> float:
    """Per-layer profile of every variant, each on its own PERF_COUNT compiled model, after the timed runs.

    Returns the seconds it took (compiles included), so the report shows what profiling cost.
    """
    import time

    import openvino as ov

    from ovq.pipeline.stages.compile import compile_variant
    from ovq.runtime.profile import collect_profile, operation_aliases, quantized_operations, summarize_profile

    started = time.perf_counter()
    assert ctx.deployment is not None  # the config puts a compile stage before the benchmark
    feed = ctx.dataset(stage.dataset)[0][0] if stage.dataset is not None else None
    ordered = sorted(ctx.variants.values(), key=lambda v: v is not default)  # the default first: others compare
    raw: dict[str, Any] = {}
    with ctx.reporter.progress(f"profiling {len(ordered)} variant(s) (per-layer counters)", None):
        for variant in ordered:
            layer_started = time.perf_counter()
            compiled = compile_variant(variant, ctx.deployment, profiling=True).compiled
            inputs = _as_feed(compiled, feed)
            profile = collect_profile(compiled, inputs, iterations=stage.profile_iterations)
            profile.wall_s = time.perf_counter() - layer_started
            raw[variant.name] = profile
            quantized = quantized_operations(ov.Core().read_model(variant.model_path)) if variant.role is None else {}
            baseline = raw.get(default.name) if default is not None and variant is not default else None
            aliases = (
                operation_aliases(ov.Core().read_model(default.model_path), list(quantized))
                if baseline is not None and default is not None and quantized
                else None
            )
            variant.profile = summarize_profile(profile, quantized=quantized, default=baseline, default_aliases=aliases)
    return round(time.perf_counter() - started, 3)


def _as_feed(compiled: Any, feed: Any) -> Any:
    """The first dataset item as one request's inputs (checked and cast), or random inputs without a dataset."""
    from ovq.benchmarking.inputs import prepare_inputs

    return prepare_inputs(compiled, feed)[0]


def warn_slow_or_large(ctx: RunContext, default: Variant | None) -> None:
    """Warnings for every variant that is neither the reference nor the default precision (same text everywhere)."""
    from ovq.benchmarking.verdict import variant_warnings
    from ovq.runtime.profile import likely_reasons

    reference = ctx.reference
    reference_size = reference.size_bytes
    default_info = (
        (default.name, default.benchmark, (default.compile_info or {}).get("inference_precision"))
        if default is not None
        else None
    )
    for variant in ctx.variants.values():
        if variant is reference or variant.role == "default_precision":
            continue
        variant.warnings = variant_warnings(
            variant.name,
            benchmark=variant.benchmark,
            size_bytes=variant.size_bytes,
            reference=(reference.name, reference.benchmark, reference_size),
            default=default_info,
            reasons=likely_reasons(variant.profile) if variant.profile else (),
        )
