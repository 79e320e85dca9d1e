"""Floating-point variants: FP16-compressed weights, or the FP32 IR run at bf16 / the plugin's default.

They answer the first question a user has before quantizing: how much do I get without touching accuracy
budgets at all? And they keep the FP32 baseline honest: on CPUs with bf16 the plugin's default for an
FP32 model is bf16, so "FP32 at the default precision" is its own variant, measured beside true f32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.config.stages import PrecisionStage
from ovq.pipeline.stages.base import StageAdapter, StageResult

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext

# mode -> (the report's precision, the inference precision to compile with; None = the plugin's default)
MODES: dict[str, tuple[str, str | None]] = {
    "fp16": ("fp16", None),
    "bf16": ("bf16", "bf16"),
    "default": ("fp32", None),  # the FP32 IR itself; only the inference precision differs
}


class Precision(StageAdapter[PrecisionStage]):
    config_model = PrecisionStage

    def run(self, ctx: RunContext, config: PrecisionStage) -> StageResult:
        from ovq.compression.ptq import refuse_if_compressed
        from ovq.compression.weights import to_fp16
        from ovq.runtime.convert import read_model_file

        source = ctx.variants[config.source]
        model = read_model_file(source.model_path)
        refuse_if_compressed(model, what=f"make a {config.mode} variant of")
        precision, inference_precision = MODES[config.mode]
        if config.mode == "fp16":
            model = to_fp16(model)
        variant = ctx.add_variant(model, name=config.name, precision=precision, source=config.source)
        if config.mode != "fp16":
            # Same weights as the source; what differs is how the plugin runs them.
            variant.compile_overrides = {"inference_precision": inference_precision}
        details = {
            "variant": config.name,
            "mode": config.mode,
            "inference_precision": inference_precision or "plugin default",
        }
        return StageResult(details=details, variants_added=[config.name])
