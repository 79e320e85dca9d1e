"""Pipeline adapter for the export stage (engine: ovq.runtime.convert): the FP32 reference variant."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.errors import ConfigError
from ovq.runtime.convert import describe_inputs, export_model

if TYPE_CHECKING:
    from ovq.config.schema import ExportStage
    from ovq.pipeline.context import RunContext


def run_stage(ctx: RunContext, stage: ExportStage, index: int, label: str) -> dict[str, Any]:
    """Build or read the model named by the pipeline, export it, save the FP32 IR as the reference variant."""

    source_spec = ctx.config.model
    example_input = None
    source: Any
    if source_spec.recipe:
        recipe = ctx.recipe()
        assert recipe is not None
        with ctx.reporter.progress("building the model from its recipe", None):
            source = recipe.build()
        example_input = recipe.example_input()
    elif source_spec.factory:
        source = load_factory_model(source_spec.factory, ctx.base_dir)
        example_input = _example_from(ctx, stage)
    else:
        path = Path(source_spec.onnx or source_spec.ir or "")
        source = path if path.is_absolute() else ctx.base_dir / path
        if stage.input_shapes is None and stage.dynamic_shapes == "reshape":
            example_input = _example_from(ctx, stage)
    model = export_model(
        source,
        example_input=example_input,
        input_shapes=stage.input_shapes,
        static_shapes=stage.dynamic_shapes == "reshape",
    )
    variant = ctx.add_variant(model, index, label, name=stage.name, precision="fp32", source=None)
    return {"source": source_spec.kind, "inputs": describe_inputs(model), "model_path": str(variant.model_path)}


def load_factory_model(reference: str, base_dir: Path) -> Any:
    """Call a model factory; anything but a torch.nn.Module (or an ov.Model) is a ConfigError naming it."""
    import openvino as ov
    import torch

    from ovq.inputs.datasets import call_user_code
    from ovq.inputs.user_code import load_callable

    model = call_user_code(load_callable(reference, base_dir=base_dir), f"model factory {reference!r}")
    if not isinstance(model, torch.nn.Module | ov.Model):
        raise ConfigError(
            f"model factory {reference!r} returned {type(model).__name__}, not a torch.nn.Module",
            hint="return the model object itself (e.g. `return MyNet().eval()`)",
        )
    return model


def _example_from(ctx: RunContext, stage: ExportStage) -> Any:
    """Zeros of the configured shapes, else the first item of the first dataset the pipeline defines."""
    if isinstance(stage.input_shapes, dict):
        return {name: np.zeros(shape, np.float32) for name, shape in stage.input_shapes.items()}
    if isinstance(stage.input_shapes, list):
        return [np.zeros(shape, np.float32) for shape in stage.input_shapes]
    if ctx.config.datasets:
        first = next(iter(ctx.config.datasets))
        return _float32_example(ctx.dataset(first)[0][0])
    return None


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
