"""Export: a PyTorch module, an ONNX file or an IR -> an OpenVINO model with (by default) static shapes.

OpenVINO's converter gives a traced torch model fully dynamic input shapes; INT8 models with dynamic
shapes do not compile on this CPU at its default precision, and static shapes let the plugin pick its best
kernels, so export makes shapes static unless told to keep them dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.errors import ConfigError, InputFileError, ModelFormatError
from ovq.runtime.ov_errors import conversion_error, read_error, reshape_error

if TYPE_CHECKING:
    import openvino as ov
    import torch


Shapes = dict[str, list[int]] | list[list[int]]


def export_model(
    source: torch.nn.Module | str | Path | ov.Model,
    *,
    example_input: Any = None,
    input_shapes: Shapes | None = None,
    static_shapes: bool = True,
) -> ov.Model:
    """Convert a torch module, an ONNX file or an IR into an ov.Model.

    >>> model = export_model(torch_module, example_input=np.zeros((1, 3, 224, 224), np.float32))

    example_input is needed for torch modules (tracing); input_shapes overrides the shapes; with
    static_shapes, dynamic dimensions are fixed from input_shapes or the example input.
    """
    import openvino as ov

    if isinstance(source, ov.Model):
        model = source.clone()
    elif isinstance(source, str | Path):
        model = read_model_file(Path(source))
    else:
        model = _convert_torch(source, example_input)
    if input_shapes is not None:
        reshape(model, input_shapes)
    if static_shapes and _is_dynamic(model):
        if example_input is None:
            raise ConfigError(
                "the model has dynamic input shapes: " + describe_inputs(model),
                hint="set export.input_shapes, or export.dynamic_shapes: keep to leave them dynamic",
            )
        reshape(model, [list(np.asarray(a).shape) for a in _example_arrays(example_input)])
    return model


def read_model_file(path: Path) -> ov.Model:
    """Read an IR (.xml + .bin) or an ONNX file; a missing or damaged file is a clear error."""
    import openvino as ov

    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a model file", hint="give the .xml (IR) or .onnx file")
    if not path.is_file():
        raise InputFileError(f"model file not found: {path}")
    if path.suffix == ".xml" and not path.with_suffix(".bin").is_file():
        raise InputFileError(f"the IR {path} has no weights file {path.with_suffix('.bin').name} beside it")
    if path.suffix not in (".xml", ".onnx"):
        raise ModelFormatError(f"{path}: unsupported model file type {path.suffix!r}", hint="give an .xml IR or .onnx")
    try:
        return ov.Core().read_model(path)
    except RuntimeError as exc:
        raise read_error(exc, path) from exc


def _convert_torch(module: torch.nn.Module, example_input: Any) -> ov.Model:
    import openvino as ov
    import torch

    if example_input is None:
        raise ConfigError("exporting a torch module needs an example input", hint="the recipe's example_input()")
    module.eval()
    arrays = _example_arrays(example_input)
    tensors: Any = tuple(torch.from_numpy(np.asarray(a)) for a in arrays)
    if isinstance(example_input, dict):
        tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in example_input.items()}
    elif len(tensors) == 1:
        tensors = tensors[0]
    try:
        with torch.no_grad():
            return ov.convert_model(module, example_input=tensors)
    except Exception as exc:
        raise conversion_error(exc, "the torch module", stage="export") from exc


def _example_arrays(example_input: Any) -> list[Any]:
    if isinstance(example_input, dict):
        return list(example_input.values())
    if isinstance(example_input, list | tuple):
        return list(example_input)
    return [example_input]


def _is_dynamic(model: ov.Model) -> bool:
    return any(port.get_partial_shape().is_dynamic for port in model.inputs)


def describe_inputs(model: ov.Model) -> str:
    return ", ".join(f"{port.get_any_name()}{port.get_partial_shape()}" for port in model.inputs)


def reshape(model: ov.Model, shapes: Shapes | Sequence[Sequence[int]]) -> None:
    """Reshape in place; shapes by input name or in input order. -1 keeps a dimension dynamic."""
    import openvino as ov

    ports = list(model.inputs)
    if isinstance(shapes, dict):
        names = {name for port in ports for name in port.get_names()}
        unknown = sorted(set(shapes) - names)
        if unknown:
            raise ConfigError(f"input_shapes names unknown inputs {unknown}", hint=f"inputs: {describe_inputs(model)}")
        new_shapes: dict[Any, ov.PartialShape] = {
            next(p for p in ports if name in p.get_names()): ov.PartialShape(shape) for name, shape in shapes.items()
        }
    else:
        if len(shapes) != len(ports):
            raise ConfigError(
                f"{len(shapes)} input shape(s) given, the model has {len(ports)} input(s): {describe_inputs(model)}"
            )
        new_shapes = {port: ov.PartialShape(list(shape)) for port, shape in zip(ports, shapes, strict=True)}
    try:
        model.reshape(new_shapes)
    except RuntimeError as exc:
        raise reshape_error(
            exc, model_inputs=describe_inputs(model), requested=[str(s) for s in new_shapes.values()]
        ) from exc
