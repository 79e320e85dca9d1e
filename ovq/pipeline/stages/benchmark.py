"""Pipeline adapter for the benchmark stage: times every variant with ovq.benchmarking.engine, interleaved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import BenchmarkResult, benchmark_interleaved, speedup_table
from ovq.benchmarking.inputs import random_inputs
from ovq.config.stages import BenchmarkStage, QuantizeStage
from ovq.pipeline.stages.base import StageAdapter, StageResult

if TYPE_CHECKING:
    from ovq.benchmarking.engine import Inputs
    from ovq.pipeline.context import RunContext


# Long enough for stable medians on a small model, short enough for an interactive pipeline.
PIPELINE_DEFAULT_DURATION_S = 10.0


class Benchmark(StageAdapter[BenchmarkStage]):
    config_model = BenchmarkStage
    uses_deployment = True

    def run(self, ctx: RunContext, config: BenchmarkStage) -> StageResult:
        """Benchmark every compiled variant, interleaved, and record speed-ups against the FP32 reference."""
        from ovq.runtime.execution_precision import execution_precision_summary

        compiled = {name: ctx.compiled(v).compiled for name, v in ctx.variants.items()}
        inputs: dict[str, Inputs | None] | None = None
        if config.dataset is not None:
            feeds = [item[0] for item in ctx.dataset(config.dataset)]
            inputs = {name: feeds for name in compiled}
        duration = config.duration_s if (config.duration_s or config.iterations) else PIPELINE_DEFAULT_DURATION_S
        what = f"{config.iterations} iterations" if config.iterations else f"{duration:g} s"
        description = f"benchmarking {len(compiled)} variant(s), {what} each × {config.repeats}"
        with ctx.reporter.progress(description, 1.0) as update:
            results = benchmark_interleaved(
                compiled,
                inputs,
                repeats=config.repeats,
                duration_s=duration,
                iterations=config.iterations,
                warmup_iterations=config.warmup_iterations,
                num_requests=config.num_requests,
                compile_ms={n: v.compiled.compile_ms for n, v in ctx.variants.items() if v.compiled is not None},
                progress=update,
            )
        speedups = speedup_table(results, baseline=ctx.reference.name)
        details: dict[str, Any] = {}
        for name, result in results.items():
            variant = ctx.variants[name]
            extra = {"speedup_vs_reference": speedups[name], "cpu_utilisation": result.cpu_utilisation}
            variant.benchmark = {**result.to_dict(), **extra, "api": result.api}
            summary = execution_precision_summary(compiled[name])
            variant.execution_precision = summary.layers
            variant.execution_compute = {
                "layers": summary.compute_layers,
                "int8_share": summary.compute_int8_share,
                "precision": summary.compute_precision,
            }
            details[name] = {"throughput_fps": result.throughput_fps, "speedup_vs_reference": speedups[name]}
        peers = _measure_peers(ctx, config, duration, results[ctx.reference.name]) if config.baselines else []
        return StageResult(details=details, peers=peers)


def _measure_peers(
    ctx: RunContext, stage: BenchmarkStage, duration: float | None, reference: BenchmarkResult
) -> list[dict[str, Any]]:
    """PyTorch eager and ONNX Runtime, measured on the same input, with speed-ups against the same FP32."""
    from ovq.benchmarking.peers import baseline_variants
    from ovq.inputs.recipes import model_file_path
    from ovq.runtime.artifacts import staged_dir

    source = ctx.config.model
    module = ctx.torch_module() if source.recipe or source.factory else None
    onnx_path = model_file_path(source, ctx.base_dir) if source.onnx else None
    tflite_path = model_file_path(source, ctx.base_dir) if source.tflite else None
    calibration_name = stage.baseline_calibration or next(
        (s.dataset for s in ctx.config.stages if isinstance(s, QuantizeStage)), None
    )
    calibration = [item[0] for item in ctx.dataset(calibration_name)] if calibration_name else None
    reference_compiled = ctx.compiled(ctx.reference).compiled
    inputs = ctx.dataset(stage.dataset)[0][0] if stage.dataset else list(random_inputs(reference_compiled).values())
    # The peers' files (ONNX exports) go into this stage's own folder, so the stage cache keeps them with it.
    with (
        ctx.reporter.progress(f"measuring baselines: {', '.join(stage.baselines)}", None),
        staged_dir(ctx.stage_folder) as folder,
    ):
        measured = baseline_variants(
            inputs=inputs,
            work_dir=folder,
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
        if str(variant.get("model_path", "")).startswith(str(folder)):
            variant["model_path"] = str(ctx.stage_folder / Path(variant["model_path"]).relative_to(folder))
        bench = variant.get("benchmark") or {}
        if bench.get("throughput_fps"):
            bench["speedup_vs_reference"] = bench["throughput_fps"] / reference.throughput_fps
    return measured
