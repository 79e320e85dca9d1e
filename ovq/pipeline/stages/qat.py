"""Pipeline adapter of quantization-aware training (engine: ovq.compression.qat.functions and .train)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.config.stages import QatStage
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.pipeline.stages.under_budget import qat_cache_key_parts, train_to_ir

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext


class Qat(StageAdapter[QatStage]):
    config_model = QatStage
    uses_budget = True
    quantizes = True

    def cache_key_parts(self, ctx: RunContext, config: QatStage) -> dict[str, Any]:
        return {**super().cache_key_parts(ctx, config), **qat_cache_key_parts(ctx, config)}

    def run(self, ctx: RunContext, config: QatStage) -> StageResult:
        # train_qat fails closed (exit 4) when the allowance is spent: a returned model holds the budget.
        model, story = train_to_ir(ctx, config, ctx.stage_label)
        ctx.add_variant(model, name=config.name, precision="int8", source=config.source)
        return StageResult(
            details={"variant": config.name, "qat": story}, variants_added=[config.name], budget_met=True
        )
