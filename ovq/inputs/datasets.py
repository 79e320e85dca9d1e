"""Dataset specs -> lists of (inputs, target) items, and the check that items fit a model.

Inputs of an item are what the model is fed: one array, a tuple/list of arrays in input order, or a dict
by input name, batch dimension included. Datasets are small (calibration and validation sets), so they are
materialised as lists: NNCF iterates them more than once and every variant is evaluated on the same items.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.config.schema import DatasetSpec
from ovq.errors import ConfigError, DataMismatchError, InputFileError
from ovq.inputs.recipes import find_recipe
from ovq.inputs.user_code import call_user_code, load_callable

if TYPE_CHECKING:
    import openvino as ov

Item = tuple[Any, Any]


def load_dataset(
    spec: DatasetSpec, *, base_dir: Path | None, default_recipe: str | None = None, name: str = "dataset"
) -> list[Item]:
    """Materialise a dataset; empty data or NaN/Inf inputs are DataMismatchErrors naming it and its source."""
    source = dataset_source(spec, base_dir=base_dir, default_recipe=default_recipe)
    if spec.split:
        recipe_name = spec.recipe or default_recipe
        assert recipe_name is not None  # checked by the config's cross checks
        items = list(find_recipe(recipe_name, base_dir=base_dir).dataset(spec.split))
    elif spec.factory:
        produced = call_user_code(load_callable(spec.factory, base_dir=base_dir), f"dataset factory {spec.factory!r}")
        if not isinstance(produced, Iterable) or isinstance(produced, str | bytes):
            raise ConfigError(
                f"dataset {name!r}: factory {spec.factory!r} returned {type(produced).__name__}, not an iterable",
                hint="return a list (or generator) of inputs or (inputs, target) pairs",
            )
        items = [_as_item(element) for element in produced]
    elif spec.images:
        from ovq.inputs.images import load_image_items

        items = load_image_items(
            spec.images,
            preprocess=spec.preprocess,
            labels=spec.labels,
            batch_size=spec.batch_size,
            limit=spec.limit,
            base_dir=base_dir,
        )
    else:
        assert spec.path is not None
        items = _load_arrays(spec, base_dir, name)
    if spec.limit is not None:
        items = items[: spec.limit]
    if not items:
        raise DataMismatchError(
            f"dataset {name!r} is empty ({source})", hint="check the split, file or factory it comes from"
        )
    check_finite(items, dataset_name=name, source=source)
    return items


def dataset_source(spec: DatasetSpec, *, base_dir: Path | None, default_recipe: str | None = None) -> str:
    """Where a dataset comes from, as error messages name it: the file, the factory or the recipe split."""
    if spec.path:
        return f"file {_resolve(spec.path, base_dir)}"
    if spec.factory:
        return f"factory {spec.factory}"
    return f"recipe {spec.recipe or default_recipe} split {spec.split}"


def check_finite(items: Sequence[Item], *, dataset_name: str, source: str) -> None:
    """Refuse NaN/Inf inputs: calibrated on them, NNCF builds a model whose every output is NaN."""
    for index, (inputs, _) in enumerate(items):
        for position, array in enumerate(input_arrays(inputs)):
            if array.dtype == object:
                raise DataMismatchError(
                    f"dataset {dataset_name!r} ({source}): item {index} input {position} is not numeric"
                    f" (an array of Python objects)",
                    hint="yield numpy arrays of numbers",
                )
            if array.dtype.kind not in "fc" or bool(np.isfinite(array).all()):
                continue
            bad = np.argwhere(~np.isfinite(array))[0]
            value = array[tuple(bad)]
            raise DataMismatchError(
                f"dataset {dataset_name!r} ({source}): item {index} input {position} holds {value}"
                f" at {list(map(int, bad))}; the data must be finite (no NaN or Inf)",
                hint="clean or impute the data before calibrating and evaluating on it",
            )


def dtype_mismatches(model: ov.Model, items: Sequence[Item], *, dataset_name: str) -> list[str]:
    """Warnings for inputs whose dtype differs from the model's (they would be cast silently, e.g. int64 -> f32)."""
    inputs = items[0][0]
    arrays = input_arrays(inputs)
    ports = (
        [next((p for p in model.inputs if key in p.get_names()), None) for key in inputs]
        if isinstance(inputs, dict)
        else list(model.inputs)
    )
    warnings = []
    for port, array in zip(ports, arrays, strict=False):
        if port is None:
            continue
        expected = np.dtype(port.get_element_type().to_dtype())
        if array.dtype != expected:
            warnings.append(
                f"dataset {dataset_name!r}: input {port.get_any_name()!r} is {array.dtype}, the model takes"
                f" {expected}; it is cast to {expected}"
            )
    return warnings


def _resolve(path: str, base_dir: Path | None) -> Path:
    file = Path(path)
    return base_dir / file if not file.is_absolute() and base_dir is not None else file


def _as_item(element: Any) -> Item:
    # A factory may yield bare inputs (calibration data) or (inputs, target) pairs.
    if isinstance(element, tuple) and len(element) == 2:
        return element
    return (element, None)


def _load_arrays(spec: DatasetSpec, base_dir: Path | None, name: str) -> list[Item]:
    assert spec.path is not None
    path = _resolve(spec.path, base_dir)
    if path.is_dir():
        raise InputFileError(
            f"dataset {name!r}: {path} is a folder, not a .npy/.npz file",
            hint="for a folder of images write images: instead of path:",
        )
    if not path.is_file():
        raise InputFileError(f"dataset {name!r}: file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise InputFileError(
            f"dataset {name!r}: cannot read {path}: {problem}", hint="write it with numpy.save/savez"
        ) from None
    if isinstance(loaded, np.ndarray):
        inputs, labels = loaded, None
    else:
        labels = loaded[spec.labels_key] if spec.labels_key in loaded.files else None
        if spec.inputs_key not in loaded.files:
            # No single inputs array: one array per model input, matched by name when the model is known.
            named = {key: loaded[key] for key in loaded.files if key != spec.labels_key}
            if not named:
                raise DataMismatchError(f"dataset {name!r}: {path} holds no input arrays (only {loaded.files})")
            return _named_items(path, named, labels, spec.batch_size)
        try:
            inputs = loaded[spec.inputs_key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            problem = " ".join(str(exc).split()) or type(exc).__name__
            raise InputFileError(
                f"dataset {name!r}: cannot read {path}: {problem}", hint="write it with numpy.savez"
            ) from None
    if inputs.ndim == 0:
        raise DataMismatchError(
            f"dataset {name!r}: {path} holds a single number, not an array of samples",
            hint="save an array whose first axis is the sample axis",
        )
    if labels is not None and len(labels) != len(inputs):
        raise DataMismatchError(
            f"dataset {name!r}: {path} has {len(inputs)} inputs but {len(labels)} labels",
            hint="save one label per input sample",
        )
    step = spec.batch_size
    return [
        (inputs[i : i + step], None if labels is None else labels[i : i + step].squeeze())
        for i in range(0, len(inputs) - step + 1, step)
    ]


def _named_items(path: Path, named: dict[str, np.ndarray], labels: np.ndarray | None, step: int) -> list[Item]:
    """An .npz with one array per model input (matched to the model by name when it is checked).

    Arrays with a first axis are sliced into items of `step` samples; 0-d arrays (a sample rate, a
    threshold) are the same for every item.
    """
    sliced = {name: array for name, array in named.items() if array.ndim > 0}
    lengths = {name: len(array) for name, array in sliced.items()}
    if len(set(lengths.values())) > 1:
        raise DataMismatchError(
            f"{path}: input arrays differ in length along their first axis: {lengths}",
            hint="give every per-item array the same number of samples (0-d arrays are shared)",
        )
    count = next(iter(lengths.values()), step)
    items: list[Item] = []
    for start in range(0, count - step + 1, step):
        inputs = {name: array[start : start + step] if array.ndim > 0 else array for name, array in named.items()}
        items.append((inputs, None if labels is None else labels[start : start + step].squeeze()))
    return items


def describe_dataset(spec: DatasetSpec, items: Sequence[Item]) -> dict[str, Any]:
    """What the report records about a dataset: where it came from, its size and (images) its preprocessing."""
    source = next(k for k in ("split", "factory", "path", "images") if getattr(spec, k))
    described: dict[str, Any] = {
        "source": source,
        "location": getattr(spec, source),
        "items": len(items),
        "input_shapes": first_input_shapes(items),
        "labeled": items[0][1] is not None,
    }
    if spec.images:
        from ovq.inputs.images import describe_preprocess

        described["labels"] = spec.labels
        described["preprocess"] = describe_preprocess(spec.preprocess)
    return described


def input_arrays(inputs: Any) -> list[np.ndarray]:
    if isinstance(inputs, dict):
        return [np.asarray(v) for v in inputs.values()]
    if isinstance(inputs, list | tuple):
        return [np.asarray(v) for v in inputs]
    return [np.asarray(inputs)]


def check_fits(model: ov.Model, items: Sequence[Item], *, dataset_name: str) -> None:
    """Fail before calibration when items do not fit the model's inputs, showing expected vs actual."""
    model_inputs = model.inputs
    inputs = items[0][0]
    arrays = input_arrays(inputs)
    expected = ", ".join(f"{port.get_any_name()}: {port.get_partial_shape()}" for port in model_inputs)
    actual = ", ".join(str(list(a.shape)) for a in arrays)
    if isinstance(inputs, dict):
        names = {name for port in model_inputs for name in port.get_names()}
        unknown = [key for key in inputs if key not in names]
        if unknown:
            raise DataMismatchError(
                f"dataset {dataset_name!r}: inputs named {unknown} are not model inputs; the model expects {expected}",
                hint="name each array like the model input it feeds",
            )
        missing = [port.get_any_name() for port in model_inputs if not set(port.get_names()) & set(inputs)]
        if missing:
            raise DataMismatchError(
                f"dataset {dataset_name!r}: no data for model input(s) {missing}; the data has {sorted(inputs)},"
                f" the model's inputs are {[port.get_any_name() for port in model_inputs]}",
                hint="add one array per model input, named like the input",
            )
    if len(arrays) != len(model_inputs):
        raise DataMismatchError(
            f"dataset {dataset_name!r}: items have {len(arrays)} input(s) [{actual}]; the model expects"
            f" {len(model_inputs)}: {expected}"
        )
    ports = (
        [next(p for p in model_inputs if key in p.get_names()) for key in inputs]
        if isinstance(inputs, dict)
        else list(model_inputs)
    )
    for port, given in zip(ports, arrays, strict=True):
        array, _ = fit_scalar(given, port.get_partial_shape())
        if not port.get_partial_shape().compatible(_static(array.shape)):
            raise DataMismatchError(
                f"dataset {dataset_name!r}: input {port.get_any_name()!r} expects shape"
                f" {port.get_partial_shape()}, the data has {list(array.shape)}",
                hint="reshape the data (batch dimension included) or set export.input_shapes to match it",
            )


def fit_scalar(array: np.ndarray, expected: ov.PartialShape) -> tuple[np.ndarray, ov.PartialShape]:
    """A one-element array fed to a 0-d input (a sample rate sliced out of a per-item array) is that scalar."""
    if expected.rank.is_static and expected.rank.get_length() == 0 and array.ndim > 0 and array.size == 1:
        return array.reshape(()), expected
    return array, expected


def _static(shape: Sequence[int]) -> Any:
    import openvino as ov

    return ov.PartialShape(list(shape))


def first_input_shapes(items: Sequence[Item]) -> list[list[int]]:
    return [list(a.shape) for a in input_arrays(items[0][0])]


def items_digest(items: Sequence[Item]) -> str:
    """A digest of the data itself (not of where it came from), so any change to it is noticed."""
    import hashlib

    digest = hashlib.sha256()
    for inputs, target in items:
        for array in input_arrays(inputs):
            digest.update(str((array.dtype, array.shape)).encode())
            digest.update(np.asarray(array, order="C").tobytes())
        digest.update(repr(np.asarray(target).tolist() if target is not None else None).encode())
    return digest.hexdigest()
