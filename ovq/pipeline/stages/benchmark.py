"""Pipeline adapter for the benchmark stage: times every variant with ovq.benchmarking.engine, interleaved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import benchmark_interleaved, speedup_table
from ovq.config.stages import BenchmarkStage
from ovq.pipeline.measure import measure_matrix, measure_peers
from ovq.pipeline.profiling import profile_variants, warn_slow_or_large
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
        default = next((v for v in ctx.variants.values() if v.role == "default_precision" and v.name in results), None)
        # Where the default is the reference itself (an f32-default CPU) "vs default" would repeat "vs FP32".
        separate_default = default if default is not None and default is not ctx.reference else None
        vs_default = speedup_table(results, baseline=separate_default.name) if separate_default is not None else {}
        details: dict[str, Any] = {}
        for name, result in results.items():
            variant = ctx.variants[name]
            extra = {"speedup_vs_reference": speedups[name], "cpu_utilisation": result.cpu_utilisation}
            variant.benchmark = {**result.to_dict(), **extra, "api": result.api}
            details[name] = {"throughput_fps": result.throughput_fps, "speedup_vs_reference": speedups[name]}
            if separate_default is not None:
                variant.benchmark |= {"speedup_vs_default": vs_default[name], "default_variant": separate_default.name}
                details[name]["speedup_vs_default"] = vs_default[name]
            summary = execution_precision_summary(compiled[name])
            variant.execution_precision = summary.layers
            variant.execution_compute = {
                "layers": summary.compute_layers,
                "int8_share": summary.compute_int8_share,
                "precision": summary.compute_precision,
            }
        if config.profile:
            details["profile_s"] = profile_variants(ctx, config, default)
        warn_slow_or_large(ctx, default)
        peers = measure_peers(ctx, config, duration, results[ctx.reference.name]) if config.baselines else []
        matrix = measure_matrix(ctx, config, duration) if config.matrix is not None else None
        return StageResult(details=details, peers=peers, matrix=matrix)
