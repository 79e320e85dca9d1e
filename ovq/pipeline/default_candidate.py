"""The plugin's default precision as a candidate of its own: the FP32 IR compiled at the CPU's default.

On CPUs with AMX or AVX512-BF16 the CPU plugin runs an FP32 model in bf16 by default, 3.5-5x faster than
true f32: a compressed variant is only worth shipping if it beats that. Where the default is f32 (AVX2,
AVX-512 without bf16) the candidate is the FP32 reference itself: it compiles to the same thing, so it is
measured once and may be the deliverable when every compressed variant is slower or misses the budget.
The compile stage calls `add_default_candidate` so every run measures it beside the declared variants
(opt out with `compile.default_candidate: false`: then only compressed variants are candidates).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ovq.config.stages import CompileStage
    from ovq.pipeline.context import RunContext, Variant


#: Name of the variant the compile stage adds: the FP32 IR at the plugin's default inference precision.
DEFAULT_CANDIDATE = "fp32-default"


def is_default_precision(variant: Variant, reference: Variant, plugin_default: str) -> bool:
    """A variant that runs the uncompressed model at the plugin's default precision (declared or added).

    Uncompressed: a compressed model deployed at the default (the search's INT8 choice) is no such candidate.
    """
    overrides = variant.compile_overrides
    return (
        variant is not reference
        and variant.precision == reference.precision
        and "inference_precision" in overrides
        and overrides["inference_precision"] in (None, plugin_default)
    )


def add_default_candidate(ctx: RunContext, stage: CompileStage) -> dict[str, Any]:
    """Make the FP32 model at the plugin's default precision a candidate (unless declared or opted out).

    On CPUs with bf16 the default is 3.5-5x faster than true f32; a compressed variant is only worth
    shipping if it beats that. Returns what was decided, for the stage's details.
    """
    from ovq.runtime.execution_precision import default_inference_precision

    plugin_default = default_inference_precision()
    reference = ctx.reference
    declared = [v for v in ctx.variants.values() if is_default_precision(v, reference, plugin_default)]
    # One default: a `mode: default` variant before one that names the same precision (`mode: bf16`).
    declared.sort(key=lambda v: v.compile_overrides["inference_precision"] is not None)
    if declared:
        declared[0].role = "default_precision"
    decision: dict[str, Any] = {"plugin_default": plugin_default, "variant": None, "added": False}
    if declared:
        return decision | {"variant": declared[0].name, "reason": "declared by the pipeline"}
    if not stage.default_candidate:
        return decision | {"reason": "default_candidate: false"}
    if plugin_default == "f32":
        # The reference compiled at f32 is what the plugin's default compiles to: it is the candidate.
        reference.role = "default_precision"
        return decision | {"variant": reference.name, "reason": "the plugin's default is f32: the FP32 model itself"}
    name = DEFAULT_CANDIDATE
    while name in ctx.variants:
        name += "_"
    # A fresh variant on the reference's IR (the same file; only the inference precision differs). Made by
    # dataclasses.replace of the reference, so this adapter needs no import of the context module.
    ctx.variants[name] = dataclasses.replace(
        reference,
        name=name,
        source=reference.name,
        compiled=None,
        compile_info=None,
        compile_overrides={"inference_precision": None},
        accuracy={},
        benchmark=None,
        execution_precision=None,
        execution_compute=None,
        outputs={},
        role="default_precision",
        profile=None,
        warnings=[],
    )
    return decision | {"variant": name, "added": True, "reason": f"the plugin's default precision is {plugin_default}"}
