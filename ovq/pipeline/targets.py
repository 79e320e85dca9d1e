"""The CPUs a run answers for (``compile.targets``): every variant evaluated, benchmarked and judged per class.

Users quantize on one machine and deploy to others. For each target at or below this host the variants are
measured in an ISA-capped worker (ovq.benchmarking.targets), scored here with the pipeline's own metrics, and
the budget picks a deliverable per target with the same rule as the run's own (deliverable.judge). A target
above the host is "not measurable here"; one whose cap did not hold is "not emulable here": never a number.

On a target whose plugin default is f32 the separate bf16 default candidate (``fp32-default``) would compile
to exactly the FP32 reference, so it is left out there and the reference is that target's default candidate.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.protocol import MIN_PAIRS
from ovq.benchmarking.targets import (
    EMULATION_NOTE,
    TargetJob,
    TargetVariant,
    measure_target,
    measure_target_on_node,
    node_of_class,
)
from ovq.compression.budget import Budget, metric_drop
from ovq.config.benchmark_stage import BenchmarkStage
from ovq.config.stages import EvaluateStage
from ovq.pipeline.default_candidate import is_default_precision
from ovq.runtime.cpu_class import NATIVE, active_class, cpu_class

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext, Variant


def requested_targets(ctx: RunContext) -> list[str]:
    return list(ctx.deployment.targets) if ctx.deployment is not None else [NATIVE]


def measure_targets(ctx: RunContext) -> list[dict[str, Any]] | None:
    """The report's ``targets`` block (None when the run answers only for this machine as it is)."""
    targets = requested_targets(ctx)
    if targets == [NATIVE]:
        return None
    here = active_class()
    entries = []
    for name in dict.fromkeys(targets):  # each once, in the order asked
        if name == NATIVE:
            entries.append(_native_entry(ctx, here.name))
            continue
        entries.append(_capped_entry(ctx, cpu_class(name).name))
    return entries


def _stage(ctx: RunContext, kind: type[EvaluateStage] | type[BenchmarkStage]) -> Any:
    return next((s for s in ctx.config.stages if isinstance(s, kind)), None)


def _native_entry(ctx: RunContext, class_name: str) -> dict[str, Any]:
    variants = list(ctx.variants.values())
    entry: dict[str, Any] = {
        "target": NATIVE,
        "cpu_class": cpu_class(class_name).describe(),
        "status": "measured",
        "how": "this machine, uncapped",
        "variants": {v.name: _variant_numbers(v, ctx.reference) for v in variants},
    }
    return entry | _judged(ctx, ctx.reference, variants)


def _capped_entry(ctx: RunContext, name: str) -> dict[str, Any]:
    from ovq.benchmarking.accuracy import score
    from ovq.pipeline.stages.compile import compile_options

    target = cpu_class(name)
    assert ctx.deployment is not None
    reference = ctx.reference
    f32_default = target.default_precision == "f32"
    # The reference's own IR compiled at "the plugin's default" is the reference itself where that default is f32.
    variants = [
        v
        for v in ctx.variants.values()
        if not (
            f32_default
            and v is not reference
            and v.model_path == reference.model_path
            and v.compile_overrides.get("inference_precision", "") is None
        )
    ]
    # The uncompressed model at this class's default: one the pipeline declared (e.g. the search's "default"
    # choice) or, failing that, the reference itself (as the compile stage decides on an f32-default host).
    defaults = [v.name for v in variants if is_default_precision(v, reference, target.default_precision)]
    evaluate: EvaluateStage | None = _stage(ctx, EvaluateStage)
    bench: BenchmarkStage | None = _stage(ctx, BenchmarkStage)
    items = ctx.dataset(evaluate.dataset) if evaluate is not None else None
    bench_feeds = [item[0] for item in ctx.dataset(bench.dataset)] if bench and bench.dataset else None
    job = TargetJob(
        target=target.name,
        variants=[
            TargetVariant(
                v.name,
                str(v.model_path),
                compile_options(v, ctx.deployment),
                compile_options(v, ctx.deployment, profiling=True),
            )
            for v in variants
        ],
        evaluate=evaluate is not None,
        repeats=max(bench.repeats if bench else MIN_PAIRS, MIN_PAIRS),
        # Without a duration: the pipeline's 10 s per variant, shared by the repeats.
        duration_s=(bench.duration_s if bench and (bench.duration_s or bench.iterations) else 2.0),
        iterations=bench.iterations if bench else None,
        warmup_iterations=bench.warmup_iterations if bench else 0,
    )
    eval_inputs = [item[0] for item in items] if items is not None else None
    node = node_of_class(target.name)
    if node is not None:
        # A cluster node of this class: measured there, not emulated here (even above this host).
        ctx.reporter.note(f"target {target.name}: measured on Ray node {node['NodeManagerAddress']} of that class")
        measured = measure_target_on_node(job, eval_inputs=eval_inputs, bench_inputs=bench_feeds)
    else:
        ctx.reporter.note(f"target {target.name}: measuring every variant in a worker capped to {target.isa}")
        with tempfile.TemporaryDirectory(prefix=f"ovq-target-{target.name}-") as scratch:
            measured = measure_target(job, Path(scratch), eval_inputs=eval_inputs, bench_inputs=bench_feeds)
    entry: dict[str, Any] = {"target": target.name, "cpu_class": target.describe(), "status": measured.status}
    if measured.node is not None:
        entry["node"] = measured.node
    if measured.status != "measured":
        return entry | {"reason": measured.reason, "variants": {}}
    entry["how"] = (
        f"measured on Ray node {measured.node['address']} ({measured.node['node_id'][:12]}), which advertises"
        f" class {target.name}; its other work may share the node"
        if measured.node is not None
        else EMULATION_NOTE
    )
    entry["kernels"] = measured.kernels
    copies: dict[str, Variant] = {}
    for variant in variants:
        accuracy: dict[str, dict[str, Any]] = {}
        if evaluate is not None and items is not None:
            metric_names = evaluate.metrics or list(ctx.config.metrics)
            for metric_name in metric_names:
                metric = ctx.metric(metric_name)
                value = score(
                    measured.outputs[variant.name],
                    items,
                    metric,
                    reference_outputs=measured.outputs[reference.name] if metric.against == "reference" else None,
                )
                better = metric.higher_is_better
                accuracy[metric_name] = {"metric": metric_name, "value": value, "higher_is_better": better}
        # Roles are this class's: a host's bf16 candidate is no default where the default is f32.
        if variant is reference:
            role = "default_precision" if f32_default and not defaults else None
        else:
            role = "default_precision" if defaults[:1] == [variant.name] else None
        copies[variant.name] = dataclasses.replace(
            variant,
            compiled=None,
            accuracy=accuracy,
            benchmark=measured.benchmarks.get(variant.name),
            compile_info={"inference_precision": measured.inference_precision.get(variant.name)},
            role=role,
        )
    target_reference = copies[reference.name]
    for copy in copies.values():
        for metric_name, block in copy.accuracy.items():
            reference_value = target_reference.accuracy[metric_name]["value"]
            block["reference"] = reference_value
            block["drop"] = (
                metric_drop(reference_value, block["value"], higher_is_better=block["higher_is_better"])
                if block["value"] is not None and reference_value is not None
                else None
            )
    entry["variants"] = {v.name: _variant_numbers(v, target_reference) for v in copies.values()}
    return entry | _judged(ctx, target_reference, list(copies.values()))


def _variant_numbers(variant: Variant, reference: Variant) -> dict[str, Any]:
    import statistics

    from ovq.benchmarking.verdict import paired_ratios

    bench = variant.benchmark or {}
    ref_bench = reference.benchmark or {}
    # Paired repeats (measured back to back in the worker), so the ratio is not the machine's drift.
    ratios = paired_ratios(bench, ref_bench) if bench and ref_bench else []
    speedup = round(statistics.median(ratios), 4) if ratios else None
    return {
        "role": variant.role,
        "inference_precision": (variant.compile_info or {}).get("inference_precision"),
        "accuracy": {name: {"value": a.get("value"), "drop": a.get("drop")} for name, a in variant.accuracy.items()},
        "throughput_fps": bench.get("throughput_fps"),
        "speedup_vs_reference": speedup,
        "noisy": bool(bench.get("noisy")),
    }


def _judged(ctx: RunContext, reference: Variant, variants: list[Variant]) -> dict[str, Any]:
    """The target's deliverable and why (with a budget); without one, only the numbers."""
    from ovq.pipeline.deliverable import judge

    spec = ctx.config.budget
    if spec is None or not reference.accuracy:
        return {"deliverable": None, "budget_met": None, "reason": "no budget declared: numbers only"}
    budgets = [Budget(ctx.metric(name), limit.max_drop, limit.drop_type) for name, limit in spec.metrics.items()]
    verdict = judge(spec, budgets, reference, variants)
    reason = verdict.block.get("reason")
    if verdict.deliverable is not None and reason is None:
        reason = f"{verdict.deliverable} is the fastest variant holding the budget on this class"
    return {
        "deliverable": verdict.deliverable,
        "budget_met": verdict.met,
        "reason": reason if verdict.met else "no variant meets the budget: " + " | ".join(verdict.misses),
    }
