"""Revert chosen operations of a fake-quantized IR to floating point, in OpenVINO, without re-quantizing.

Speed-aware mixed precision tries many sets of INT8 operations; re-running NNCF's calibration for each
(with an ignored scope) costs a minute per try on MiniLM. Quantizing once with the weights left as float
constants behind their FakeQuantize (NNCF's ``compress_weights: False``) makes every other set a cheap
graph edit: an operation is reverted by feeding it its quantizers' *inputs* instead of their outputs. The
float weights kept are the ones NNCF quantized (after SmoothQuant's rescaling), so a reverted operation
computes exactly the function of the graph around it. A quantizer shared with other operations (the
Q, K, V projections read one quantized LayerNorm output) stays for them.

Example::

    quantized = quantize(model, items, advanced_parameters=keep_float_weights())
    operations = quantized_operations(quantized)          # {"fc2/MatMul": [QuantizedInput(...), ...]}
    mixed = revert_operations(quantized, ["fc2/MatMul"])  # a new model; fc2 runs in floating point
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

#: Operations NNCF quantizes on their inputs (the heavy arithmetic).
QUANTIZABLE_TYPES = frozenset(
    {"MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData"}
)
#: Data-movement operations that may sit between a quantizer and the operation it feeds.
_TRANSPARENT_TYPES = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Convert"})
_MAX_PATH = 4


@dataclass(frozen=True)
class QuantizedInput:
    """One quantized input of an operation: its port, its FakeQuantize, the nodes in between, weight or not."""

    port: int
    fake_quantize: str
    path: tuple[str, ...]  # from the operation upwards, excluding both ends
    weight: bool


def keep_float_weights(advanced_parameters: Any = None) -> Any:
    """NNCF advanced parameters that leave weights as float constants behind their FakeQuantize.

    The CPU plugin still runs such weights in INT8 (it folds the FakeQuantize when compiling), and
    ``ov.save_model`` stores them compressed; only the in-memory model keeps the float values to revert to.
    """
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    parameters = advanced_parameters or AdvancedQuantizationParameters()
    parameters.backend_params = {**(parameters.backend_params or {}), "compress_weights": False}
    return parameters


def _source(node: Any, port: int) -> Any:
    return node.input_value(port).get_node()


def _is_constant_path(node: Any) -> bool:
    while node.get_type_name() == "Convert":
        node = _source(node, 0)
    return bool(node.get_type_name() == "Constant")


def quantized_operations(model: ov.Model) -> dict[str, list[QuantizedInput]]:
    """Every quantizable operation with at least one quantized activation input, and its quantized inputs.

    Operations quantized on their weights only (weight-only compression) are not listed: they have no
    activation quantizer to revert.
    """
    found: dict[str, list[QuantizedInput]] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() not in QUANTIZABLE_TYPES:
            continue
        inputs = []
        for port in range(op.get_input_size()):
            node, path = _source(op, port), list[str]()
            while node.get_type_name() in _TRANSPARENT_TYPES and len(path) < _MAX_PATH:
                path.append(node.get_friendly_name())
                node = _source(node, 0)
            if node.get_type_name() == "FakeQuantize":
                weight = _is_constant_path(_source(node, 0))
                inputs.append(QuantizedInput(port, node.get_friendly_name(), tuple(path), weight))
        if any(not quantized.weight for quantized in inputs):
            found[op.get_friendly_name()] = inputs
    return found


def quantizer_consumers(model: ov.Model) -> dict[str, list[str]]:
    """Activation FakeQuantize name -> the quantized operations it feeds (who pays for its runtime layer)."""
    owners: dict[str, list[str]] = {}
    for operation, inputs in quantized_operations(model).items():
        for quantized in inputs:
            if not quantized.weight:
                owners.setdefault(quantized.fake_quantize, []).append(operation)
    return owners


def _copy_with_input(node: Any, data: Any) -> Any:
    """A copy of a data-movement node reading ``data`` instead of its input 0 (its other inputs kept)."""
    import openvino.opset13 as ops

    kind = node.get_type_name()
    attributes = node.get_attributes()
    if kind == "Reshape":
        return ops.reshape(data, node.input_value(1), special_zero=attributes["special_zero"])
    if kind == "Transpose":
        return ops.transpose(data, node.input_value(1))
    if kind == "Squeeze":
        return ops.squeeze(data, node.input_value(1)) if node.get_input_size() > 1 else ops.squeeze(data)
    if kind == "Unsqueeze":
        return ops.unsqueeze(data, node.input_value(1))
    return ops.convert(data, node.get_output_element_type(0))


def revert_operations(model: ov.Model, operations: Iterable[str]) -> ov.Model:
    """A copy of ``model`` in which ``operations`` read float inputs (activations and weights).

    ``model`` is a quantized IR with float weights (:func:`keep_float_weights`); it is not modified.
    Raises KeyError for a name that is not a quantized operation of the model.
    """
    wanted = list(dict.fromkeys(operations))
    clone = model.clone()
    if not wanted:
        return clone
    structure = quantized_operations(clone)
    missing = [name for name in wanted if name not in structure]
    if missing:
        raise KeyError(f"not quantized operations of this model: {missing}")
    nodes = {node.get_friendly_name(): node for node in clone.get_ops()}
    for name in wanted:
        operation = nodes[name]
        for quantized in structure[name]:
            fake_quantize = nodes[quantized.fake_quantize]
            source = fake_quantize.input_value(0)
            # Rebuild the data-movement path between quantizer and operation on the float source, so any
            # other reader of the quantized path keeps it.
            for node_name in reversed(quantized.path):
                source = _copy_with_input(nodes[node_name], source).output(0)
            operation.input(quantized.port).replace_source_output(source)
    clone.validate_nodes_and_infer_types()
    return clone


def _float_twin(operation: Any, sources: list[Any]) -> Any | None:
    """A copy of a MatMul/Convolution reading ``sources``; None for kinds without a twin here."""
    import openvino.opset13 as ops

    kind = operation.get_type_name()
    attributes = operation.get_attributes()
    if kind == "MatMul":
        return ops.matmul(sources[0], sources[1], attributes["transpose_a"], attributes["transpose_b"])
    if kind in ("Convolution", "GroupConvolution"):
        build = ops.convolution if kind == "Convolution" else ops.group_convolution
        return build(
            sources[0],
            sources[1],
            attributes["strides"],
            attributes["pads_begin"],
            attributes["pads_end"],
            attributes["dilations"],
            attributes["auto_pad"],
        )
    return None


def with_float_twins(model: ov.Model, operations: Iterable[str]) -> tuple[ov.Model, list[str]]:
    """A copy of ``model`` whose outputs are, per operation, its quantized output and a float twin's output.

    The twin reads the same (upstream-quantized) activations before this operation's own quantizers, so
    the difference between the two outputs is the error this operation's quantization adds, measured at
    whatever precision the model is compiled with. Returns the model (its first outputs are the original
    ones, then pairs) and the operations that got a twin, in output order.
    """
    import openvino as ov

    clone = model.clone()
    structure = quantized_operations(clone)
    nodes = {node.get_friendly_name(): node for node in clone.get_ops()}
    results: list[Any] = []
    twinned: list[str] = []
    for name in operations:
        if name not in structure:
            continue
        operation = nodes[name]
        sources = [operation.input_value(port) for port in range(operation.get_input_size())]
        for quantized in structure[name]:
            source = nodes[quantized.fake_quantize].input_value(0)
            for node_name in reversed(quantized.path):
                source = _copy_with_input(nodes[node_name], source).output(0)
            sources[quantized.port] = source
        twin = _float_twin(operation, sources)
        if twin is None:
            continue
        results.append(operation.output(0))
        results.append(twin.output(0))
        twinned.append(name)
    import openvino.opset13 as ops

    extra = [ops.result(output) for output in results]
    twins = ov.Model([*clone.get_results(), *extra], clone.get_parameters(), "float_twins")
    return twins, twinned
