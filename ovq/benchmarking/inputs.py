"""Input feeds for benchmarking: what the requests are fed, checked once against the model's inputs.

Mirrors benchmark_app: inputs are set once per request before the timed loop, random inputs are uniform in
[0, 255] from a fixed seed, and a feed that does not fit is a DataMismatchError showing both shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ovq.errors import DataMismatchError

if TYPE_CHECKING:
    import numpy as np
    import openvino as ov

    InputFeed = Mapping[str, np.ndarray] | np.ndarray | tuple[np.ndarray, ...]
    Inputs = InputFeed | Sequence[InputFeed]


def input_names(compiled_model: ov.CompiledModel) -> list[str]:
    """The model's input names, as benchmark_app shows them (tensor name, else the node's name)."""
    return [p.get_any_name() if p.get_names() else p.get_node().get_friendly_name() for p in compiled_model.inputs]


def random_inputs(compiled_model: ov.CompiledModel, *, seed: int = 0) -> dict[str, np.ndarray]:
    """One feed of random data for a model with static input shapes, made as benchmark_app makes it.

    Values are uniform in [0, 255] (0/1 for booleans) from a fixed seed, cast to each input's type.
    Raises DataMismatchError when an input shape is dynamic (there is no shape to invent).
    """
    import numpy as np

    ports = dict(zip(input_names(compiled_model), compiled_model.inputs, strict=True))
    dynamic = [
        f"{name} {port.get_partial_shape()}" for name, port in ports.items() if port.get_partial_shape().is_dynamic
    ]
    if dynamic:
        raise DataMismatchError(
            f"cannot generate random inputs: the model has dynamic input shapes ({', '.join(dynamic)})",
            hint="pass inputs shaped like the real data, or reshape the model to static shapes "
            "(e.g. `ovq benchmark MODEL.xml -shape [1,3,224,224]`)",
        )
    feed: dict[str, np.ndarray] = {}
    for name, port in ports.items():
        dtype = _numpy_dtype(name, port)
        generator = np.random.RandomState(np.random.MT19937(np.random.SeedSequence(seed)))
        high = 1.0 if dtype == np.bool_ else 255.0
        high += 1.0 if dtype.kind in "iub" else 0.0  # integers: [0, 255] inclusive after truncation
        feed[name] = generator.uniform(0.0, high, list(port.get_shape())).astype(dtype)
    return feed


def prepare_inputs(compiled_model: ov.CompiledModel, inputs: Inputs | None) -> list[dict[int, np.ndarray]]:
    """Check and normalise input feeds into ``[{input index: array}]``, one dict per feed.

    A feed is a dict ``{input name: array}``, a single array (one-input models) or a tuple of arrays in
    input order; ``inputs`` is one feed or a list of feeds; ``None`` makes one random feed. Arrays are
    cast to the input's element type; a shape that does not fit raises DataMismatchError showing the
    expected and the actual shape.
    """
    import numpy as np

    if inputs is None:
        inputs = random_inputs(compiled_model)
    feeds: Sequence[Any] = [inputs] if isinstance(inputs, np.ndarray | Mapping | tuple) else inputs
    if not isinstance(feeds, Sequence) or isinstance(feeds, str | bytes) or len(feeds) == 0:
        raise DataMismatchError(
            f"inputs must be a dict of arrays, an array, a tuple of arrays or a non-empty list of those, "
            f"got {type(inputs).__name__}"
        )
    return [_resolve_feed(compiled_model, feed, f"input feed #{number}") for number, feed in enumerate(feeds)]


def _resolve_feed(compiled_model: ov.CompiledModel, feed: Any, where: str) -> dict[int, np.ndarray]:
    import numpy as np
    import openvino as ov

    from ovq.inputs.datasets import fit_scalar

    ports = list(compiled_model.inputs)
    names = input_names(compiled_model)
    if isinstance(feed, Mapping):
        index_by_name = {name: i for i, port in enumerate(ports) for name in [*port.get_names(), names[i]]}
        unknown = [key for key in feed if key not in index_by_name]
        if unknown:
            raise DataMismatchError(f"{where}: the model has no input named {unknown}; its inputs are {names}")
        arrays = {index_by_name[key]: value for key, value in feed.items()}
    elif isinstance(feed, tuple | np.ndarray):
        arrays = dict(enumerate(feed)) if isinstance(feed, tuple) else {0: feed}
        if len(arrays) != len(ports):
            raise DataMismatchError(
                f"{where}: {len(arrays)} array(s) for a model with {len(ports)} inputs {names}",
                hint="pass a dict {input name: array} or a tuple with one array per input",
            )
    else:
        raise DataMismatchError(f"{where}: expected a dict of arrays or an array, got {type(feed).__name__}")
    missing = [names[index] for index in range(len(ports)) if index not in arrays]
    if missing:
        raise DataMismatchError(f"{where}: no data for input(s) {missing}")

    resolved: dict[int, np.ndarray] = {}
    for index, value in sorted(arrays.items()):
        array, expected = fit_scalar(np.asarray(value), ports[index].get_partial_shape())
        if not expected.compatible(ov.PartialShape(list(array.shape))):
            raise DataMismatchError(
                f"{where}: input {names[index]!r} expects shape {expected}, got {list(array.shape)}"
            )
        resolved[index] = np.asarray(array, dtype=_numpy_dtype(names[index], ports[index]), order="C")
    return resolved


def _numpy_dtype(name: str, port: Any) -> np.dtype[Any]:
    import numpy as np

    element_type = port.get_element_type()
    try:
        dtype: np.dtype[Any] = np.dtype(element_type.to_dtype())
    except (RuntimeError, TypeError) as error:
        raise DataMismatchError(
            f"input {name!r} has element type {element_type.get_type_name()}, which has no numpy equivalent"
        ) from error
    return dtype


def fill_request(request: ov.InferRequest, feed: Mapping[int, np.ndarray]) -> None:
    """Put one feed into a request's input tensors, outside of any timed section."""
    import openvino as ov

    for index, array in feed.items():
        tensor = request.get_input_tensor(index)
        if tuple(tensor.get_shape()) == array.shape and tensor.get_size() > 0:
            tensor.data[...] = array  # keeps the plugin's own allocation, as benchmark_app does
        else:
            request.set_input_tensor(index, ov.Tensor(array))


def batch_size_of(compiled_model: ov.CompiledModel, feed: Mapping[int, np.ndarray]) -> int:
    """benchmark_app's batch size: the ``N`` dimension of the inputs' (possibly guessed) layout, else 1."""
    import openvino as ov

    for index, port in enumerate(compiled_model.inputs):
        shape, layout = feed[index].shape, ov.layout_helpers.get_layout(port)
        if layout != ov.Layout() and layout.has_name("N"):
            return int(shape[layout.get_index_by_name("N")]) or 1
        # Without a layout, benchmark_app guesses NCHW / NHWC from where the small colour axis is.
        if layout == ov.Layout() and len(shape) == 4 and (shape[1] <= 4 < shape[3] or shape[3] <= 4 < shape[1]):
            return int(shape[0]) or 1
    return 1
