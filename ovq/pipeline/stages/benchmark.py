"""Pipeline adapter for the benchmark stage: times every variant with ovq.benchmarking.engine, interleaved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import BenchmarkResult, benchmark_interleaved, speedup_table
from ovq.benchmarking.inputs import random_inputs

if TYPE_CHECKING:
    from ovq.benchmarking.engine import Inputs
    from ovq.config.schema import BenchmarkStage
    from ovq.pipeline.context import RunContext, Variant


# Long enough for stable medians on a small model, short enough for an interactive pipeline.
PIPELINE_DEFAULT_DURATION_S = 10.0


def run_stage(ctx: RunContext, stage: BenchmarkStage, index: int, label: str) -> dict[str, Any]:
    """Benchmark every compiled variant, interleaved, and record speed-ups against the FP32 reference."""
    from ovq.runtime.execution_precision import execution_precision_summary

    variants = ctx.variants
    compiled = {name: ctx.compiled(v).compiled for name, v in variants.items()}
    inputs: dict[str, Inputs | None] | None = None
    if stage.dataset is not None:
        feeds = [item[0] for item in ctx.dataset(stage.dataset)]
        inputs = {name: feeds for name in compiled}
    duration = stage.duration_s if (stage.duration_s or stage.iterations) else PIPELINE_DEFAULT_DURATION_S
    what = f"{stage.iterations} iterations" if stage.iterations else f"{duration:g} s"
    with ctx.reporter.progress(
        f"benchmarking {len(compiled)} variant(s), {what} each × {stage.repeats}", 1.0
    ) as update:
        results = benchmark_interleaved(
            compiled,
            inputs,
            repeats=stage.repeats,
            duration_s=duration,
            iterations=stage.iterations,
            warmup_iterations=stage.warmup_iterations,
            num_requests=stage.num_requests,
            compile_ms={name: v.compiled.compile_ms for name, v in variants.items() if v.compiled is not None},
            progress=update,
        )
    speedups = speedup_table(results, baseline=ctx.reference.name)
    default = next((v for v in variants.values() if v.role == "default_precision" and v.name in results), None)
    vs_default = speedup_table(results, baseline=default.name) if default is not None else {}
    details: dict[str, Any] = {}
    for name, result in results.items():
        variant = variants[name]
        variant.benchmark = {
            **result.to_dict(),
            "speedup_vs_reference": speedups[name],
            "api": result.api,
            "cpu_utilisation": result.cpu_utilisation,
        }
        if default is not None:
            variant.benchmark["speedup_vs_default"] = vs_default[name]
            variant.benchmark["default_variant"] = default.name
        summary = execution_precision_summary(compiled[name])
        variant.execution_precision = summary.layers
        variant.execution_compute = {
            "layers": summary.compute_layers,
            "int8_share": summary.compute_int8_share,
            "precision": summary.compute_precision,
        }
        details[name] = {"throughput_fps": result.throughput_fps, "speedup_vs_reference": speedups[name]}
        if default is not None:
            details[name]["speedup_vs_default"] = vs_default[name]
    if stage.profile:
        details["profile_s"] = _profile_variants(ctx, stage, default)
    _warn(ctx, default)
    if stage.baselines:
        # The report's variants list gets these from the stage details (so a cached stage replays them).
        details["baselines"] = _measure_baselines(ctx, stage, duration, results[ctx.reference.name])
    return details


def _profile_variants(ctx: RunContext, stage: BenchmarkStage, default: Variant | None) -> float:
    """Per-layer profile of every variant, each on its own PERF_COUNT compiled model, after the timed runs.

    Returns the seconds it took (compiles included), so the report shows what profiling cost.
    """
    import time

    import openvino as ov

    from ovq.pipeline.stages.compile import compile_variant
    from ovq.runtime.profile import collect_profile, operation_aliases, quantized_operations, summarize_profile

    started = time.perf_counter()
    assert ctx.compile_stage is not None
    feed = ctx.dataset(stage.dataset)[0][0] if stage.dataset is not None else None
    ordered = sorted(ctx.variants.values(), key=lambda v: v is not default)  # the default first: others compare
    raw: dict[str, Any] = {}
    with ctx.reporter.progress(f"profiling {len(ordered)} variant(s) (per-layer counters)", None):
        for variant in ordered:
            layer_started = time.perf_counter()
            compiled = compile_variant(variant, ctx.compile_stage, profiling=True).compiled
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


def _warn(ctx: RunContext, default: Variant | None) -> None:
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


def _measure_baselines(
    ctx: RunContext, stage: BenchmarkStage, duration: float | None, reference: BenchmarkResult
) -> list[dict[str, Any]]:
    """PyTorch eager and ONNX Runtime, measured on the same input, with speed-ups against the same FP32."""
    from ovq.benchmarking.peers import baseline_variants
    from ovq.config.schema import QuantizeStage
    from ovq.inputs.user_code import load_callable

    source = ctx.config.model
    module = None
    if source.recipe:
        recipe = ctx.recipe()
        assert recipe is not None
        module = recipe.build()
    elif source.factory:
        module = load_callable(source.factory, base_dir=ctx.base_dir)()
    onnx_path = None
    if source.onnx:
        onnx_path = Path(source.onnx) if Path(source.onnx).is_absolute() else ctx.base_dir / source.onnx
    calibration_name = stage.baseline_calibration or next(
        (s.dataset for s in ctx.config.stages if isinstance(s, QuantizeStage)), None
    )
    calibration = [item[0] for item in ctx.dataset(calibration_name)] if calibration_name else None
    reference_compiled = ctx.compiled(ctx.reference).compiled
    inputs = (
        ctx.dataset(stage.dataset)[0][0]
        if stage.dataset
        else [array for array in random_inputs(reference_compiled).values()]
    )
    with ctx.reporter.progress(f"measuring baselines: {', '.join(stage.baselines)}", None):
        measured = baseline_variants(
            inputs=inputs,
            work_dir=ctx.run_dir / "baselines",
            module=module,
            onnx_path=onnx_path,
            calibration_inputs=calibration,
            kinds=stage.baselines,
            duration_s=duration,
            iterations=stage.iterations,
            repeats=stage.repeats,
            reference_size_bytes=ctx.reference.size_bytes,
        )
    for variant in measured:
        bench = variant.get("benchmark") or {}
        if bench.get("throughput_fps"):
            bench["speedup_vs_reference"] = bench["throughput_fps"] / reference.throughput_fps
    return measured
