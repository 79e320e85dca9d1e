"""Pipeline adapter for the benchmark stage: times every variant with ovq.benchmarking.engine, interleaved.

Variants that compile to the same thing (ovq.pipeline.identical) are measured once and share the result;
each variant's speed against FP32 and against the plugin's default is a paired comparison with its
interval (ovq.benchmarking.protocol), and rounds are added while one of those is undecided.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import BenchmarkResult, benchmark_interleaved, speedup_table
from ovq.benchmarking.protocol import Extension
from ovq.benchmarking.verdict import comparison_of
from ovq.config.stages import BenchmarkStage
from ovq.pipeline.identical import identity_groups
from ovq.pipeline.measure import measure_matrix, measure_peers
from ovq.pipeline.profiling import profile_variants, warn_slow_or_large
from ovq.pipeline.stages.base import StageAdapter, StageResult

if TYPE_CHECKING:
    from ovq.benchmarking.engine import Inputs
    from ovq.pipeline.context import RunContext, Variant


# Long enough for stable medians on a small model, short enough for an interactive pipeline; shared by the
# repeats when the stage gives no duration.
PIPELINE_DEFAULT_DURATION_S = 10.0


def extension_for(config: BenchmarkStage, pairs: list[tuple[str, str]], planned_s: float) -> Extension:
    """How far the stage may go on measuring while a comparison is undecided (see BenchmarkStage)."""
    return Extension(
        max_repeats=config.max_repeats or max(3 * config.repeats, 6),
        time_cap_s=config.decide_time_s or planned_s,
        pairs=tuple(pairs),
    )


def _representative(group: list[Variant], reference: Variant) -> Variant:
    """The member of an identity group that is measured: the reference, else the default, else the first."""
    return next(
        (v for v in group if v is reference), next((v for v in group if v.role == "default_precision"), group[0])
    )


class Benchmark(StageAdapter[BenchmarkStage]):
    config_model = BenchmarkStage
    uses_deployment = True

    def run(self, ctx: RunContext, config: BenchmarkStage) -> StageResult:
        """Benchmark every distinct compiled variant, interleaved, and compare each with FP32 and the default."""
        from ovq.runtime.execution_precision import execution_precision_summary

        for variant in ctx.variants.values():
            ctx.compiled(variant)  # compile_info is part of a variant's identity
        groups = identity_groups(ctx.variants.values())
        measured_as = {
            member.name: _representative(group, ctx.reference).name for group in groups.values() for member in group
        }
        compiled = {name: ctx.compiled(ctx.variants[name]).compiled for name in dict.fromkeys(measured_as.values())}
        inputs: dict[str, Inputs | None] | None = None
        if config.dataset is not None:
            feeds = [item[0] for item in ctx.dataset(config.dataset)]
            inputs = {name: feeds for name in compiled}
        duration = config.duration_s or (None if config.iterations else PIPELINE_DEFAULT_DURATION_S / config.repeats)
        default = next((v for v in ctx.variants.values() if v.role == "default_precision"), None)
        reference_as = measured_as[ctx.reference.name]
        default_as = measured_as[default.name] if default is not None else None
        pairs = [(name, reference_as) for name in compiled if name != reference_as]
        pairs += [(name, default_as) for name in compiled if default_as not in (None, name, reference_as)]
        planned = config.repeats * len(compiled) * (duration or 1.0)
        what = f"{config.iterations} iterations" if config.iterations else f"{duration:g} s"
        same = len(ctx.variants) - len(compiled)
        description = f"benchmarking {len(compiled)} variant(s), {what} each × {config.repeats}" + (
            f" ({same} identical to another, measured once)" if same else ""
        )
        with ctx.reporter.progress(description, 1.0) as update:
            measured = benchmark_interleaved(
                compiled,
                inputs,
                repeats=config.repeats,
                duration_s=duration,
                iterations=config.iterations,
                warmup_iterations=config.warmup_iterations,
                num_requests=config.num_requests,
                compile_ms={n: v.compiled.compile_ms for n, v in ctx.variants.items() if v.compiled is not None},
                progress=update,
                noisy_threshold=config.noisy_threshold,
                extension=extension_for(config, pairs, planned),
            )
        results: dict[str, BenchmarkResult] = {name: measured[twin] for name, twin in measured_as.items()}
        speedups = speedup_table(results, baseline=ctx.reference.name)
        # Where the default is the reference itself (an f32-default CPU) "vs default" would repeat "vs FP32".
        separate_default = default if default is not None and default is not ctx.reference else None
        vs_default = speedup_table(results, baseline=separate_default.name) if separate_default is not None else {}
        digests = {member.name: digest for digest, group in groups.items() for member in group}
        details: dict[str, Any] = {}
        for name, result in results.items():
            variant = ctx.variants[name]
            extra: dict[str, Any] = {
                "speedup_vs_reference": speedups[name],
                "cpu_utilisation": result.cpu_utilisation,
                "compiled_digest": digests[name],
            }
            if measured_as[name] != name:
                extra["identical_to"] = measured_as[name]
            variant.benchmark = {**result.to_dict(), **extra, "api": result.api}
            details[name] = {"throughput_fps": result.throughput_fps, "speedup_vs_reference": speedups[name]}
            if measured_as[name] != name:
                details[name]["identical_to"] = measured_as[name]
            if separate_default is not None:
                variant.benchmark |= {"speedup_vs_default": vs_default[name], "default_variant": separate_default.name}
                details[name]["speedup_vs_default"] = vs_default[name]
            summary = execution_precision_summary(compiled[measured_as[name]])
            variant.execution_precision = summary.layers
            variant.execution_compute = {
                "layers": summary.compute_layers,
                "int8_share": summary.compute_int8_share,
                "precision": summary.compute_precision,
            }
        for variant in ctx.variants.values():
            assert variant.benchmark is not None
            comparisons = {
                "reference": comparison_of(variant.benchmark, ctx.reference.benchmark or {}, versus=ctx.reference.name)
            }
            if separate_default is not None:
                comparisons["default"] = comparison_of(
                    variant.benchmark, separate_default.benchmark or {}, versus=separate_default.name
                )
            variant.benchmark["comparisons"] = {key: c.to_dict() for key, c in comparisons.items()}
            details[variant.name]["vs_reference"] = comparisons["reference"].describe()
        details["machine"] = next(iter(measured.values())).machine
        if config.profile:
            details["profile_s"] = profile_variants(ctx, config, default)
        warn_slow_or_large(ctx, default)
        peers = measure_peers(ctx, config, duration, results[ctx.reference.name]) if config.baselines else []
        matrix = measure_matrix(ctx, config, duration) if config.matrix is not None else None
        return StageResult(details=details, peers=peers, matrix=matrix)
