"""The benchmark stage's plan and bookkeeping: what is measured once, what is compared with what, what is kept.

Variants that compile to the same thing (ovq.pipeline.identical) are measured once and share the result;
each variant's speed against FP32 and against the plugin's default is a paired comparison with its
interval (ovq.benchmarking.protocol).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import BenchmarkResult, speedup_table
from ovq.benchmarking.verdict import comparison_of
from ovq.pipeline.identical import identity_groups

if TYPE_CHECKING:
    import openvino as ov

    from ovq.pipeline.context import RunContext, Variant


@dataclasses.dataclass(frozen=True)
class MeasurementPlan:
    """Which variant stands in for each (its identity group's representative) and which pairs are compared."""

    measured_as: dict[str, str]  # variant name -> name of the variant actually measured for it
    digests: dict[str, str]  # variant name -> digest of what it compiles to
    compiled: dict[str, ov.CompiledModel]  # one per identity group, keyed by the representative
    pairs: list[tuple[str, str]]  # (variant, versus) comparisons the extension rounds try to decide
    default: Variant | None  # the variant at the plugin's default precision
    separate_default: Variant | None  # the default where it is not the reference itself

    @property
    def identical_count(self) -> int:
        return len(self.measured_as) - len(self.compiled)


def _representative(group: list[Variant], reference: Variant) -> Variant:
    """The member of an identity group that is measured: the reference, else the default, else the first."""
    return next(
        (v for v in group if v is reference), next((v for v in group if v.role == "default_precision"), group[0])
    )


def plan_measurement(ctx: RunContext) -> MeasurementPlan:
    for variant in ctx.variants.values():
        ctx.compiled(variant)  # compile_info is part of a variant's identity
    groups = identity_groups(ctx.variants.values())
    measured_as = {
        member.name: _representative(group, ctx.reference).name for group in groups.values() for member in group
    }
    compiled = {name: ctx.compiled(ctx.variants[name]).compiled for name in dict.fromkeys(measured_as.values())}
    default = next((v for v in ctx.variants.values() if v.role == "default_precision"), None)
    reference_as = measured_as[ctx.reference.name]
    default_as = measured_as[default.name] if default is not None else None
    pairs = [(name, reference_as) for name in compiled if name != reference_as]
    pairs += [(name, default_as) for name in compiled if default_as not in (None, name, reference_as)]
    return MeasurementPlan(
        measured_as=measured_as,
        digests={member.name: digest for digest, group in groups.items() for member in group},
        compiled=compiled,
        pairs=pairs,
        default=default,
        # Where the default is the reference itself (an f32-default CPU) "vs default" would repeat "vs FP32".
        separate_default=default if default is not None and default is not ctx.reference else None,
    )


def record_speed(ctx: RunContext, plan: MeasurementPlan, measured: dict[str, BenchmarkResult]) -> dict[str, Any]:
    """Give every variant its (possibly shared) result and comparisons; return the stage's details."""
    from ovq.runtime.execution_precision import execution_precision_summary

    results = {name: measured[twin] for name, twin in plan.measured_as.items()}
    speedups = speedup_table(results, baseline=ctx.reference.name)
    default = plan.separate_default
    vs_default = speedup_table(results, baseline=default.name) if default is not None else {}
    details: dict[str, Any] = {}
    for name, result in results.items():
        variant = ctx.variants[name]
        twin = plan.measured_as[name]
        shared = {"identical_to": twin} if twin != name else {}
        variant.benchmark = {
            **result.to_dict(),
            "speedup_vs_reference": speedups[name],
            "cpu_utilisation": result.cpu_utilisation,
            "compiled_digest": plan.digests[name],
            **shared,
            "api": result.api,
        }
        details[name] = {"throughput_fps": result.throughput_fps, "speedup_vs_reference": speedups[name], **shared}
        if default is not None:
            variant.benchmark |= {"speedup_vs_default": vs_default[name], "default_variant": default.name}
            details[name]["speedup_vs_default"] = vs_default[name]
        summary = execution_precision_summary(plan.compiled[twin])
        variant.execution_precision = summary.layers
        variant.execution_compute = {
            "layers": summary.compute_layers,
            "int8_share": summary.compute_int8_share,
            "precision": summary.compute_precision,
        }
    for variant in ctx.variants.values():
        assert variant.benchmark is not None
        versus = {"reference": ctx.reference} | ({"default": default} if default is not None else {})
        comparisons = {
            key: comparison_of(variant.benchmark, other.benchmark or {}, versus=other.name)
            for key, other in versus.items()
        }
        variant.benchmark["comparisons"] = {key: c.to_dict() for key, c in comparisons.items()}
        details[variant.name]["vs_reference"] = comparisons["reference"].describe()
    details["machine"] = next(iter(measured.values())).machine
    return details
