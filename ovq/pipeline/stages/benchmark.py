"""Pipeline adapter for the benchmark stage: times every variant with ovq.benchmarking.engine, interleaved.

What is measured once and what is compared with what is planned in ovq.pipeline.variant_speed; rounds are
added while one of those comparisons is undecided (ovq.pipeline.measure.stage_extension).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.benchmarking.engine import benchmark_interleaved
from ovq.config.benchmark_stage import BenchmarkStage
from ovq.pipeline.measure import measure_matrix, measure_peers, stage_extension
from ovq.pipeline.profiling import profile_variants, warn_slow_or_large
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.pipeline.variant_speed import plan_measurement, record_speed

if TYPE_CHECKING:
    from ovq.benchmarking.engine import Inputs
    from ovq.pipeline.context import RunContext


# Long enough for stable medians on a small model, short enough for an interactive pipeline; shared by the
# repeats when the stage gives no duration.
PIPELINE_DEFAULT_DURATION_S = 10.0


class Benchmark(StageAdapter[BenchmarkStage]):
    config_model = BenchmarkStage
    uses_deployment = True

    def run(self, ctx: RunContext, config: BenchmarkStage) -> StageResult:
        """Benchmark every distinct compiled variant, interleaved, and compare each with FP32 and the default."""
        plan = plan_measurement(ctx)
        inputs: dict[str, Inputs | None] | None = None
        if config.dataset is not None:
            feeds = [item[0] for item in ctx.dataset(config.dataset)]
            inputs = {name: feeds for name in plan.compiled}
        duration = config.duration_s or (None if config.iterations else PIPELINE_DEFAULT_DURATION_S / config.repeats)
        planned = config.repeats * len(plan.compiled) * (duration or 1.0)
        what = f"{config.iterations} iterations" if config.iterations else f"{duration:g} s"
        description = f"benchmarking {len(plan.compiled)} variant(s), {what} each × {config.repeats}" + (
            f" ({plan.identical_count} identical to another, measured once)" if plan.identical_count else ""
        )
        with ctx.reporter.progress(description, 1.0) as update:
            measured = benchmark_interleaved(
                plan.compiled,
                inputs,
                repeats=config.repeats,
                duration_s=duration,
                iterations=config.iterations,
                warmup_iterations=config.warmup_iterations,
                num_requests=config.num_requests,
                compile_ms={n: v.compiled.compile_ms for n, v in ctx.variants.items() if v.compiled is not None},
                progress=update,
                noisy_threshold=config.noisy_threshold,
                extension=stage_extension(config, planned, plan.pairs),
            )
        details = record_speed(ctx, plan, measured)
        if config.profile:
            details["profile_s"] = profile_variants(ctx, config, plan.default)
        warn_slow_or_large(ctx, plan.default)
        reference_result = measured[plan.measured_as[ctx.reference.name]]
        peers = measure_peers(ctx, config, duration, reference_result) if config.baselines else []
        matrix = measure_matrix(ctx, config, duration) if config.matrix is not None else None
        return StageResult(details=details, peers=peers, matrix=matrix)
