"""Pipeline adapter for the export stage (engine: ovq.runtime.convert): the FP32 reference variant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.config.stages import ExportStage
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.runtime.convert import describe_inputs, export_model_explained

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext


class Export(StageAdapter[ExportStage]):
    config_model = ExportStage

    def cache_key_parts(self, ctx: RunContext, config: ExportStage) -> dict[str, Any]:
        parts = super().cache_key_parts(ctx, config)
        parts["source"] = ctx.source_digest()
        if not ctx.config.model.recipe and config.input_shapes is None:
            # The example input (hence the static shapes) comes from the first dataset.
            first = next(iter(ctx.config.datasets), None)
            parts["example_data"] = ctx.dataset_digest(first) if first else None
        return parts

    def run(self, ctx: RunContext, config: ExportStage) -> StageResult:
        """Build or read the model named by the pipeline, export it, save the FP32 IR as the reference variant."""
        from ovq.inputs.recipes import load_model_source

        source_spec = ctx.config.model
        with ctx.reporter.progress(f"loading the model ({source_spec.kind})", None):
            loaded = load_model_source(source_spec, base_dir=ctx.base_dir)
        source: Any = loaded.module if loaded.module is not None else loaded.path
        example_input, example_source = loaded.example_input, "the recipe's example_input()"
        if example_input is None and (
            loaded.module is not None or (config.input_shapes is None and config.dynamic_shapes == "reshape")
        ):
            example_input, example_source = _example_from(ctx, config)
        model, shapes_from = export_model_explained(
            source,
            example_input=example_input,
            example_source=example_source,
            input_shapes=config.input_shapes,
            static_shapes=config.dynamic_shapes == "reshape",
        )
        variant = ctx.add_variant(model, name=config.name, precision="fp32", source=None)
        details = {
            "source": source_spec.kind,
            "inputs": describe_inputs(model),
            "input_shapes_from": shapes_from,
            "model_path": str(variant.model_path),
        }
        return StageResult(details=details, variants_added=[config.name])


def _example_from(ctx: RunContext, stage: ExportStage) -> tuple[Any, str]:
    """Zeros of the configured shapes, else the first item of the first dataset the pipeline defines."""
    if isinstance(stage.input_shapes, dict):
        return {name: np.zeros(shape, np.float32) for name, shape in stage.input_shapes.items()}, "export.input_shapes"
    if isinstance(stage.input_shapes, list):
        return [np.zeros(shape, np.float32) for shape in stage.input_shapes], "export.input_shapes"
    if ctx.config.datasets:
        first = next(iter(ctx.config.datasets))
        return _float32_example(ctx.dataset(first)[0][0]), f"the first item of dataset {first!r}"
    return None, "the example input"


def _float32_example(example: Any) -> Any:
    """Trace with float32 where the data is float64 (torch weights are float32) instead of failing to convert.

    The stages that feed the data to the model warn (once) that float64 items are cast to the model's float32.
    """

    def cast(array: Any) -> Any:
        array = np.asarray(array)
        return array.astype(np.float32) if array.dtype == np.float64 else array

    if isinstance(example, dict):
        return {name: cast(value) for name, value in example.items()}
    if isinstance(example, list | tuple):
        return type(example)(cast(value) for value in example)
    return cast(example)
