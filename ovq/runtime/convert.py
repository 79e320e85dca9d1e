"""Export: a PyTorch module, an ONNX or TFLite file, or an IR -> an OpenVINO model with (by default) static shapes.

OpenVINO's converter gives a traced torch model fully dynamic input shapes; INT8 models with dynamic
shapes do not compile on this CPU at its default precision, and static shapes let the plugin pick its best
kernels, so export makes shapes static unless told to keep them dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.errors import ConfigError, DataMismatchError, InputFileError, ModelFormatError
from ovq.runtime.ov_errors import conversion_error, is_conversion_failure, read_error, reshape_error

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
    """Convert a torch module, an ONNX or TFLite file, or an IR into an ov.Model.

    >>> model = export_model(torch_module, example_input=np.zeros((1, 3, 224, 224), np.float32))

    example_input is needed for torch modules (tracing); input_shapes are given to OpenVINO's converter
    (some models convert only with their shapes known up front); with static_shapes, dynamic dimensions
    are fixed from input_shapes or the example input.
    """
    return export_model_explained(
        source, example_input=example_input, input_shapes=input_shapes, static_shapes=static_shapes
    )[0]


def export_model_explained(
    source: torch.nn.Module | str | Path | ov.Model,
    *,
    example_input: Any = None,
    example_source: str = "the example input",
    input_shapes: Shapes | None = None,
    static_shapes: bool = True,
) -> tuple[ov.Model, str]:
    """export_model, also saying where the input shapes came from (for the report).

    The answer is one of: "export.input_shapes", "the model itself", `example_source` (when the example
    input fixed dynamic dimensions), "kept dynamic".
    """
    import openvino as ov

    if isinstance(source, ov.Model):
        model = source.clone()
    elif isinstance(source, str | Path):
        model = read_model_file(Path(source), input_shapes=input_shapes)
    else:
        model = _convert_torch(source, example_input, input_shapes)
    if input_shapes is not None:
        reshape(model, input_shapes)  # a no-op when the converter took them; an IR is reshaped here
        origin = "export.input_shapes"
    else:
        origin = "the model itself"
    if _is_dynamic(model):
        if not static_shapes:
            return model, "kept dynamic"
        if example_input is None:
            raise ConfigError(
                "the model has dynamic input shapes: " + describe_inputs(model),
                hint="set export.input_shapes, or export.dynamic_shapes: keep to leave them dynamic",
            )
        reshape(model, _example_shapes(model, example_input, example_source))
        origin = example_source
    return model, origin


MODEL_SUFFIXES = (".xml", ".onnx", ".tflite")


def read_model_file(path: Path, *, input_shapes: Shapes | None = None) -> ov.Model:
    """Read an IR (.xml + .bin), an ONNX or a TFLite file; a missing or damaged file is a clear error.

    For ONNX and TFLite, `input_shapes` go to OpenVINO's converter (by input name or in input order).
    """
    import openvino as ov

    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a model file", hint="give the .xml (IR) or .onnx file")
    if not path.is_file():
        raise InputFileError(f"model file not found: {path}")
    if path.suffix == ".xml" and not path.with_suffix(".bin").is_file():
        raise InputFileError(f"the IR {path} has no weights file {path.with_suffix('.bin').name} beside it")
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFormatError(
            f"{path}: unsupported model file type {path.suffix!r}", hint="give an .xml IR, an .onnx or a .tflite file"
        )
    try:
        if input_shapes is not None and path.suffix != ".xml":
            shapes: Any = (
                {name: ov.PartialShape(shape) for name, shape in input_shapes.items()}
                if isinstance(input_shapes, dict)
                else [ov.PartialShape(shape) for shape in input_shapes]
            )
            return ov.convert_model(path, input=shapes)
        return ov.Core().read_model(path)
    except Exception as exc:  # the converters raise RuntimeError, OpConversionFailure, GeneralFailure, ...
        if isinstance(input_shapes, dict):
            # A misspelt input name is the likeliest cause: name it the way reshape() does.
            reshape(read_model_file(path), input_shapes)
        if path.suffix != ".xml" and is_conversion_failure(exc):
            # A well-formed file OpenVINO cannot convert: a model-format problem, told in full (every operation).
            failure = conversion_error(exc, str(path))
            raise ModelFormatError(failure.message, hint=failure.hint) from None
        raise read_error(exc, path) from None


def _convert_torch(module: torch.nn.Module, example_input: Any, input_shapes: Shapes | None = None) -> ov.Model:
    import openvino as ov
    import torch

    if example_input is None:
        raise ConfigError("exporting a torch module needs an example input", hint="the recipe's example_input()")
    module.eval()
    arrays = _example_arrays(example_input)
    tensors: Any = tuple(torch.from_numpy(np.asarray(a)) for a in arrays)
    if isinstance(example_input, dict):
        _check_forward_takes(module, list(example_input))
        tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in example_input.items()}
    elif len(tensors) == 1:
        tensors = tensors[0]
    try:
        with torch.no_grad():
            if isinstance(input_shapes, list):
                return ov.convert_model(
                    module, example_input=tensors, input=[ov.PartialShape(shape) for shape in input_shapes]
                )
            return ov.convert_model(module, example_input=tensors)
    except Exception as exc:
        raise conversion_error(exc, "the torch module", stage="export") from exc


def _check_forward_takes(module: torch.nn.Module, names: list[str]) -> None:
    """Named example arrays must be the module's forward() arguments: name both when they are not."""
    import inspect

    parameters = inspect.signature(module.forward).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    accepted = [name for name, p in parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = [name for name in names if name not in parameters]
    if unknown and not takes_any:
        raise DataMismatchError(
            f"the data has arrays {names}, but the model's inputs are {accepted}",
            hint="name the .npz arrays after the model's inputs, or store one array under the key 'inputs'",
        )


def _example_arrays(example_input: Any) -> list[Any]:
    if isinstance(example_input, dict):
        return list(example_input.values())
    if isinstance(example_input, list | tuple):
        return list(example_input)
    return [example_input]


def _example_shapes(model: ov.Model, example_input: Any, example_source: str) -> Shapes:
    """The example's shapes, by input name when the example is a dict (which must cover every input)."""
    if not isinstance(example_input, dict):
        return [list(np.asarray(a).shape) for a in _example_arrays(example_input)]
    model_names = [port.get_any_name() for port in model.inputs]
    missing = [port.get_any_name() for port in model.inputs if not set(port.get_names()) & set(example_input)]
    known = {name for port in model.inputs for name in port.get_names()}
    unknown = sorted(set(example_input) - known)
    if missing or unknown:
        problem = f"no data for model input(s) {missing}" if missing else f"arrays for unknown input(s) {unknown}"
        raise DataMismatchError(
            f"{example_source} has {problem}: the data has {sorted(example_input)},"
            f" the model's inputs are {model_names}",
            hint="give one array per model input, named like the input",
        )
    return {name: list(np.asarray(value).shape) for name, value in example_input.items()}


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
