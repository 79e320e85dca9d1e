"""Pipeline adapter for the export stage (engine: ovq.runtime.convert): the FP32 reference variant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.runtime.convert import describe_inputs, export_model_explained

if TYPE_CHECKING:
    from ovq.config.schema import ExportStage
    from ovq.pipeline.context import RunContext


def run_stage(ctx: RunContext, stage: ExportStage, index: int, label: str) -> dict[str, Any]:
    """Build or read the model named by the pipeline, export it, save the FP32 IR as the reference variant."""
    from ovq.inputs.recipes import model_file
    from ovq.inputs.user_code import load_callable

    source_spec = ctx.config.model
    example_input, example_source = None, "the example input"
    source: Any
    if source_spec.recipe:
        recipe = ctx.recipe()
        assert recipe is not None
        with ctx.reporter.progress("building the model from its recipe", None):
            source = recipe.build()
        example_input, example_source = recipe.example_input(), "the recipe's example_input()"
    elif source_spec.factory:
        source = load_callable(source_spec.factory, base_dir=ctx.base_dir)()
        example_input, example_source = _example_from(ctx, stage)
    else:
        source = model_file(source_spec, ctx.base_dir)
        if stage.input_shapes is None and stage.dynamic_shapes == "reshape":
            example_input, example_source = _example_from(ctx, stage)
    model, shapes_from = export_model_explained(
        source,
        example_input=example_input,
        example_source=example_source,
        input_shapes=stage.input_shapes,
        static_shapes=stage.dynamic_shapes == "reshape",
    )
    variant = ctx.add_variant(model, index, label, name=stage.name, precision="fp32", source=None)
    return {
        "source": source_spec.kind,
        "inputs": describe_inputs(model),
        "input_shapes_from": shapes_from,
        "model_path": str(variant.model_path),
    }


def _example_from(ctx: RunContext, stage: ExportStage) -> tuple[Any, str]:
    """Zeros of the configured shapes, else the first item of the first dataset the pipeline defines."""
    if isinstance(stage.input_shapes, dict):
        return {name: np.zeros(shape, np.float32) for name, shape in stage.input_shapes.items()}, "export.input_shapes"
    if isinstance(stage.input_shapes, list):
        return [np.zeros(shape, np.float32) for shape in stage.input_shapes], "export.input_shapes"
    if ctx.config.datasets:
        first = next(iter(ctx.config.datasets))
        return ctx.dataset(first)[0][0], f"the first item of dataset {first!r}"
    return None, "the example input"
