"""Pipeline adapter for the benchmark stage: times every variant with ovq.benchmarking.engine, interleaved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import BenchmarkResult, benchmark_interleaved, speedup_table
from ovq.benchmarking.inputs import random_inputs

if TYPE_CHECKING:
    from ovq.benchmarking.engine import Inputs
    from ovq.config.schema import BenchmarkStage
    from ovq.pipeline.context import RunContext


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
    details: dict[str, Any] = {}
    for name, result in results.items():
        variant = variants[name]
        variant.benchmark = {
            **result.to_dict(),
            "speedup_vs_reference": speedups[name],
            "api": result.api,
            "cpu_utilisation": result.cpu_utilisation,
        }
        summary = execution_precision_summary(compiled[name])
        variant.execution_precision = summary.layers
        variant.execution_compute = {
            "layers": summary.compute_layers,
            "int8_share": summary.compute_int8_share,
            "precision": summary.compute_precision,
        }
        details[name] = {"throughput_fps": result.throughput_fps, "speedup_vs_reference": speedups[name]}
    if stage.baselines:
        # The report's variants list gets these from the stage details (so a cached stage replays them).
        details["baselines"] = _measure_baselines(ctx, stage, duration, results[ctx.reference.name])
    return details


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
    from ovq.inputs.recipes import model_file

    onnx_path = model_file(source, ctx.base_dir) if source.onnx else None
    tflite_path = model_file(source, ctx.base_dir) if source.tflite else None
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
            tflite_path=tflite_path,
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
