"""Pipeline adapter of the search for the fastest deployment (engine: ovq.search.optimize)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.config.stages import OptimizeStage
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.pipeline.stages.under_budget import qat_cache_key_parts, train_to_ir

if TYPE_CHECKING:
    import openvino as ov

    from ovq.pipeline.context import RunContext

# The chosen candidate -> the precision the report shows for the variant.
PRECISIONS = {
    "default": "fp32",
    "int8": "int8",
    "mixed_precision": "int8",
    "qat": "int8",
    "weights_int8": "int8_weights",
    "nncf_accuracy_control": "int8",
}


class Optimize(StageAdapter[OptimizeStage]):
    config_model = OptimizeStage
    uses_budget = True
    quantizes = True

    def cache_key_parts(self, ctx: RunContext, config: OptimizeStage) -> dict[str, Any]:
        parts = super().cache_key_parts(ctx, config)
        if config.qat is not None and "qat" in config.candidates:
            # Teacher QAT: also its calibration data, which need not be the stage's own dataset.
            parts.update(qat_cache_key_parts(ctx, config.qat))
        return parts

    def run(self, ctx: RunContext, config: OptimizeStage) -> StageResult:
        """Try the candidates and runtime settings; the winner becomes the variant, the whole front the details."""
        from ovq.compression.budget import Budget
        from ovq.runtime.convert import read_model_file
        from ovq.search.front_plot import write_front_svg
        from ovq.search.optimize import optimize
        from ovq.search.settings import DEFAULT_SETTINGS, LatencySla, RuntimeSetting

        budget = ctx.config.budget
        assert budget is not None  # the config requires one
        model = read_model_file(ctx.variants[config.source].model_path)
        budgets = [Budget(ctx.metric(name), limit.max_drop, limit.drop_type) for name, limit in budget.metrics.items()]
        settings = [RuntimeSetting(**s.model_dump()) for s in config.settings] if config.settings else DEFAULT_SETTINGS
        with ctx.reporter.progress(f"searching for the fastest deployment of {config.source}", None):
            result = optimize(
                model,
                ctx.dataset(config.dataset, model=model),
                ctx.dataset(budget.dataset, model=model),
                budgets,
                sla=LatencySla(config.sla.max_ms, config.sla.percentile) if config.sla else None,
                candidates=config.candidates,
                settings=list(settings),
                qat=_qat_builder(ctx, config),
                reserve=config.reserve,
                subset_size=config.subset_size,
                model_type=config.model_type,
                preset=config.preset,
                finalists=config.finalists,
                duration_s=config.duration_s,
                repeats=config.repeats,
                mixed_precision_options=config.mixed_precision.model_dump() if config.mixed_precision else None,
                overflow_fix=ctx.overflow_fix,
                notify=ctx.reporter.note,
            )
        variant = ctx.add_variant(
            result.model, name=config.name, precision=PRECISIONS[result.variant], source=config.source
        )
        # Validated at the plugin's default precision and measured with the chosen setting: the compile stage
        # deploys it that way, whatever its own hint says.
        variant.compile_overrides = {"inference_precision": None, "properties": result.setting.compile_properties()}
        story = result.to_dict()
        # Beside the variant's IR (the stage folder add_variant has already put in place).
        story["plot"] = write_front_svg(story, ctx.stage_folder / "front.svg")
        return StageResult(
            # The weakest target decides the INT8 overflow handling of every INT8 candidate (see quantize).
            details={"variant": config.name, "optimize": story, "overflow_fix": ctx.overflow_fix},
            variants_added=[config.name],
            budget_met=True,
        )


def _qat_builder(ctx: RunContext, stage: OptimizeStage) -> Any:
    """A thunk that runs teacher QAT on demand (the engine calls it only when QAT can still win)."""
    if stage.qat is None or "qat" not in stage.candidates:
        return None
    options = stage.qat

    def build() -> ov.Model:
        model, _ = train_to_ir(ctx, options, f"{ctx.stage_label}-qat")
        return model

    return build
