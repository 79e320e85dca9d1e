"""Pipeline adapter of the search for the fastest deployment (engine: ovq.search.optimize)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

    from ovq.config.schema import OptimizeStage
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


def run_stage(ctx: RunContext, stage: OptimizeStage, index: int, label: str) -> dict[str, Any]:
    """Try the candidates and runtime settings; the winner becomes the variant, the whole front the details."""
    import openvino as ov

    from ovq.compression.budget import Budget
    from ovq.search.optimize import optimize
    from ovq.search.settings import DEFAULT_SETTINGS, LatencySla, RuntimeSetting

    budget = ctx.config.budget
    assert budget is not None  # the config requires one
    source = ctx.variants[stage.source]
    model = ov.Core().read_model(source.model_path)
    budgets = [Budget(ctx.metric(name), limit.max_drop, limit.drop_type) for name, limit in budget.metrics.items()]
    settings = (
        [RuntimeSetting(**spec.model_dump()) for spec in stage.settings] if stage.settings else list(DEFAULT_SETTINGS)
    )
    sla = LatencySla(stage.sla.max_ms, stage.sla.percentile) if stage.sla else None
    with ctx.reporter.progress(f"searching for the fastest deployment of {stage.source}", None):
        result = optimize(
            model,
            ctx.dataset(stage.dataset, model=model),
            ctx.dataset(budget.dataset, model=model),
            budgets,
            sla=sla,
            candidates=stage.candidates,
            settings=settings,
            qat=_qat_builder(ctx, stage, label),
            reserve=stage.reserve,
            subset_size=stage.subset_size,
            model_type=stage.model_type,
            preset=stage.preset,
            finalists=stage.finalists,
            duration_s=stage.duration_s,
            repeats=stage.repeats,
            mixed_precision_options=stage.mixed_precision.model_dump() if stage.mixed_precision else None,
            notify=ctx.reporter.note,
        )
    precision = PRECISIONS[result.variant]
    variant = ctx.add_variant(result.model, index, label, name=stage.name, precision=precision, source=stage.source)
    # Validated at the plugin's default precision and measured with the chosen setting: the compile stage
    # deploys it that way, whatever its own hint says.
    variant.compile_overrides = {"inference_precision": None, "properties": result.setting.compile_properties()}
    story = result.to_dict()
    story["plot"] = _plot(ctx, index, label, story)
    return {"variant": stage.name, "optimize": story}


def _qat_builder(ctx: RunContext, stage: OptimizeStage, label: str) -> Any:
    """A thunk that runs teacher QAT on demand (the engine calls it only when QAT can still win)."""
    if stage.qat is None or "qat" not in stage.candidates:
        return None
    options = stage.qat

    def build() -> ov.Model:
        from ovq.pipeline.stages.qat import train_to_ir

        model, _ = train_to_ir(ctx, options, f"{label}-qat")
        return model

    return build


def _plot(ctx: RunContext, index: int, label: str, story: dict[str, Any]) -> str | None:
    """The measured front as an SVG beside the stage's artifact (throughput vs primary metric)."""
    from ovq.search.front_plot import write_front_svg

    # Written into the variant's folder, which add_variant has already renamed into place.
    return write_front_svg(story, ctx.stage_dir(index, label) / "front.svg")
