"""What ovq needs from inside NNCF's accuracy control (NNCF 3.4): observation and corrections.

Also the NNCF-graph checks around it: ``validate_ignored_scope`` (an entry that matches nothing is a
ConfigError naming it) and ``with_named_outputs`` (NNCF's ranker reads outputs by tensor name).

NNCF's ``QuantizationAccuracyRestorer`` keeps what it did in local variables and the log. These context
managers swap module-level names in ``nncf.quantization.algorithms.accuracy_control`` for the duration of
one run (under ``NNCF_LOCK``) and always put them back:

- ``observing_reverts``: records every greedy revert in order, and restores the weights NNCF quantized
  rather than the pre-SmoothQuant originals (which compute the wrong function next to SmoothQuant's
  Multiply).
- ``most_helpful_first_ranking``: in output (NMSE) mode NNCF reverts the *least* helpful group first.
- ``validation_compiled_with``: NNCF compiles every model it validates with f32 forced; the deployment
  may run bf16.

Each is pinned by a test in tests/unit/test_accuracy_control.py that fails if NNCF changes underneath.
"""

from __future__ import annotations

import contextlib
import difflib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.compression._nncf import _missing, internal, require
from ovq.errors import ConfigError

if TYPE_CHECKING:
    import nncf
    import openvino as ov

# The swapped names are process-global: one accuracy-control run per process at a time.
NNCF_LOCK = threading.Lock()


def validate_ignored_scope(
    model: ov.Model,
    *,
    names: Sequence[str] = (),
    patterns: Sequence[str] = (),
    types: Sequence[str] = (),
    field_path: str = "ignored_scope",
) -> nncf.IgnoredScope | None:
    """An ``nncf.IgnoredScope`` for ``model``, or ConfigError naming every entry that matches nothing.

    Matching is NNCF's own (``get_matched_ignored_scope_info`` on the model's NNCF graph: exact names,
    ``re.match`` patterns, OpenVINO op types), so what passes here is what NNCF will ignore.
    """
    import nncf

    build_graph = internal("nncf.common.factory", "build_graph")
    get_matched_ignored_scope_info = internal("nncf.scopes", "get_matched_ignored_scope_info")

    if not (names or patterns or types):
        return None
    scope = nncf.IgnoredScope(names=list(names), patterns=list(patterns), types=list(types), validate=True)
    graph = build_graph(model)
    matched, _ = get_matched_ignored_scope_info(scope, [graph])
    problems = []
    all_names = [node.node_name for node in graph.get_all_nodes()]
    all_types = sorted({node.node_type for node in graph.get_all_nodes()})
    for kind, entries, matched_entries, candidates in (
        ("names", names, matched.names, all_names),
        ("patterns", patterns, matched.patterns, all_names),
        ("types", types, matched.types, all_types),
    ):
        for index, entry in enumerate(entries):
            if entry in matched_entries:
                continue
            close = difflib.get_close_matches(entry, candidates, n=3)
            suggestion = f" (did you mean {', '.join(map(repr, close))}?)" if close and kind != "patterns" else ""
            problems.append(f"{field_path}.{kind}[{index}] {entry!r} matches no operation{suggestion}")
    if problems:
        raise ConfigError(
            "; ".join(problems),
            hint="names are the IR's operation names; types are OpenVINO op types such as " + ", ".join(all_types[:6]),
        )
    return scope


def with_named_outputs(model: ov.Model) -> ov.Model:
    """``model``, or a copy of it in which every output tensor has a name.

    NNCF's ranker reads outputs back by tensor name (``OVCompiledModelEngine.infer``): an unnamed output,
    as ``ov.convert_model`` leaves a torch module's, would give it nothing to compare and it would divide
    by zero.
    """
    if all(output.get_names() for output in model.outputs):
        return model
    named = model.clone()
    taken = {name for output in named.outputs for name in output.get_names()}
    for index, output in enumerate(named.outputs):
        if not output.get_names():
            name = f"output_{index}"
            while name in taken:
                name += "_"
            output.get_tensor().set_names({name})
            taken.add(name)
    return named


@dataclass
class ValidationCall:
    """One call NNCF made to the validation function, in order."""

    index: int
    phase: str  # mode_check | initial | quantized | tuning | step N
    items: int
    value: float
    duration_s: float


@dataclass
class RevertStep:
    """One greedy step of NNCF's restorer: a group of operations set back to floating point."""

    step: int
    operations: list[str]
    quantizers: list[str]
    value: float | None = None  # the primary metric right after this revert (NNCF's validation)
    kept: bool | None = None  # False: NNCF undid the revert (it made the metric worse)


def activation_quantized_operations(model: ov.Model) -> set[str]:
    """Names of operations fed by an activation FakeQuantize (through quantize-agnostic ops), NNCF's view.

    Weight FakeQuantizes are skipped: after NNCF compresses weights at the end they are int8 constants, so
    the activation quantizers are what tells a quantized operation from a reverted one in any model.
    """
    build_graph = internal("nncf.common.factory", "build_graph")
    groups = require(
        "nncf.openvino.graph.metatypes.groups",
        "CONSTANT_OPERATIONS",
        "FAKE_QUANTIZE_OPERATIONS",
        "INPUTS_QUANTIZABLE_OPERATIONS",
        "QUANTIZE_AGNOSTIC_OPERATIONS",
    )
    metatypes = require("nncf.openvino.graph.metatypes.openvino_metatypes", "OVConcatMetatype", "OVConvertMetatype")
    OVConcatMetatype, OVConvertMetatype = metatypes.OVConcatMetatype, metatypes.OVConvertMetatype
    CONSTANT_OPERATIONS = groups.CONSTANT_OPERATIONS
    FAKE_QUANTIZE_OPERATIONS = groups.FAKE_QUANTIZE_OPERATIONS
    INPUTS_QUANTIZABLE_OPERATIONS = groups.INPUTS_QUANTIZABLE_OPERATIONS
    QUANTIZE_AGNOSTIC_OPERATIONS = groups.QUANTIZE_AGNOSTIC_OPERATIONS

    graph = build_graph(model)
    pass_through = (*QUANTIZE_AGNOSTIC_OPERATIONS, OVConcatMetatype)
    quantized: set[str] = set()
    for quantizer in graph.get_nodes_by_metatypes(FAKE_QUANTIZE_OPERATIONS):
        source = _producer(graph, quantizer)
        while source is not None and source.metatype is OVConvertMetatype:
            source = _producer(graph, source)
        if source is None or source.metatype in CONSTANT_OPERATIONS:
            continue
        to_visit = list(graph.get_next_nodes(quantizer))
        seen = set()
        while to_visit:
            node = to_visit.pop()
            if node.node_name in seen:
                continue
            seen.add(node.node_name)
            if node.metatype in INPUTS_QUANTIZABLE_OPERATIONS:
                quantized.add(node.node_name)
            elif node.metatype in pass_through:
                to_visit.extend(graph.get_next_nodes(node))
    return quantized


def _producer(graph: Any, node: Any) -> Any:
    """The node feeding input port 0 (the data input of a FakeQuantize or Convert), or None."""
    for edge in graph.get_input_edges(node):
        if edge.input_port_id == 0:
            return edge.from_node
    return None


class Recorder:
    """Collects NNCF's validation calls and revert steps as they happen."""

    def __init__(self, full_size: int) -> None:
        self.full_size = full_size
        self.calls: list[ValidationCall] = []
        self.steps: list[RevertStep] = []
        self._full_calls = 0

    def on_revert(self, operations: list[str], quantizers: list[str]) -> None:
        self.steps.append(RevertStep(len(self.steps) + 1, operations, quantizers))

    def on_validation(self, items: int, value: float, duration_s: float) -> None:
        if items < self.full_size and self._full_calls == 0:
            phase = "mode_check"
        elif self.steps:
            phase = f"step {len(self.steps)}"
            if self.steps[-1].value is None:
                self.steps[-1].value = value
        else:
            phase = ("initial", "quantized")[self._full_calls] if self._full_calls < 2 else "tuning"
        if items >= self.full_size:
            self._full_calls += 1
        self.calls.append(ValidationCall(len(self.calls) + 1, phase, items, value, duration_s))


@contextlib.contextmanager
def observing_reverts(recorder: Recorder) -> Iterator[bool]:
    """Record the restorer's reverts, and restore the weights NNCF actually quantized.

    ``QuantizationAccuracyRestorer`` keeps its report in a local variable and only logs it; the revert
    function (``nncf.common.quantization.quantizer_removal``) is what it calls, by its module-global name,
    once per greedy step, so wrapping that name records the order. The ranker imports its own reference
    for its trial reverts: those are wrapped too, but not recorded.

    Both wrappers also correct what a revert writes back. NNCF restores each reverted layer's weight from
    the *initial* model, but SmoothQuant (the transformer model type) scaled that weight and left a
    Multiply that divides the layer's input by the same scale; the original weight behind that Multiply
    computes the wrong function (measured on the tests' MLP with model_type="transformer": reverting every
    layer gave an MSE of 27,000 to FP32 instead of 0). The float weight that fed the layer's weight
    FakeQuantize in the quantized model is the one that matches the graph, so that one is restored.

    Yields True. An NNCF without these names is a DependencyError (``ovq.compression._nncf``), never a
    run that quietly loses the correction.
    """
    name = "revert_operations_to_floating_point_precision"
    get_weight_value = require("nncf.openvino.graph.node_utils", "get_weight_value").get_weight_value
    algorithm = require("nncf.quantization.algorithms.accuracy_control.algorithm", name)
    ranker = require("nncf.quantization.algorithms.accuracy_control.ranker", name)
    originals = {module: getattr(module, name) for module in (algorithm, ranker)}
    corrected: set[str] = set()

    def use_quantized_weights(operations: Any, model: Any, weight_ports: Callable[[Any], list[int]]) -> None:
        for node in operations:
            if node.node_name in corrected:
                continue
            corrected.add(node.node_name)
            for port in weight_ports(node) if node.layer_attributes is not None else []:
                key = f"original_weight.{port}"
                original = node.attributes.get(key)
                if original is None:
                    continue
                try:
                    as_quantized = np.asarray(get_weight_value(node, model, port))
                except (KeyError, AttributeError, TypeError):
                    continue
                if as_quantized.shape == np.shape(original):
                    node.attributes[key] = as_quantized.astype(np.asarray(original).dtype)

    def wrap(original: Any, record: bool) -> Any:
        def revert(operations: Any, quantizers: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            weight_ports = kwargs.get("get_weight_tensor_port_ids_fn", args[-1] if args else None)
            if weight_ports is not None:
                use_quantized_weights(operations, model, weight_ports)
            if record:
                recorder.on_revert([n.node_name for n in operations], [n.node_name for n in quantizers])
            return original(operations, quantizers, model, *args, **kwargs)

        return revert

    for module, original in originals.items():
        setattr(module, name, wrap(original, record=module is algorithm))
    try:
        yield True
    finally:
        for module, original in originals.items():
            setattr(module, name, original)


@contextlib.contextmanager
def most_helpful_first_ranking(enabled: bool) -> Iterator[bool]:
    """Make NNCF's restorer revert the group that brings the outputs closest to FP32 first.

    The restorer pops the group with the highest ranking score. In metric mode the score is the metric
    after reverting the group (higher is better), which is right; in output mode (ours: the validation
    function returns per-item outputs) it is the normalised MSE to FP32 after reverting (lower is better),
    so NNCF 3.4 reverts the least helpful group first. Measured on the outlier MLP in the tests: NMSE
    1.017 / 0.0007 / 1.017 after reverting each of its three groups, and NNCF reverted the 1.017 groups
    first. Reversing the ranked list in output mode restores "most helpful first".
    """
    if not enabled:
        yield False
        return
    algorithm = require("nncf.quantization.algorithms.accuracy_control.algorithm", "Ranker")
    base = algorithm.Ranker

    class MostHelpfulFirstRanker(base):  # type: ignore[misc, valid-type]
        def rank_groups_of_quantizers(self, *args: Any, **kwargs: Any) -> Any:
            ranked = super().rank_groups_of_quantizers(*args, **kwargs)
            evaluator = getattr(self, "_evaluator", None)
            if evaluator is None or not hasattr(evaluator, "is_metric_mode"):
                raise _missing("the Ranker's _evaluator.is_metric_mode()", None)
            if evaluator.is_metric_mode():
                return ranked
            return list(reversed(ranked))

    algorithm.Ranker = MostHelpfulFirstRanker
    try:
        yield True
    finally:
        algorithm.Ranker = base


@contextlib.contextmanager
def validation_compiled_with(properties: Mapping[str, Any] | None, device: str = "CPU") -> Iterator[None]:
    """Make NNCF compile the models it validates and ranks with ``properties`` instead of forcing f32.

    ``OVPreparedModel`` (``accuracy_control/openvino_backend.py``) compiles with
    ``INFERENCE_PRECISION_HINT=f32``; the evaluator imports it by name at each call, so replacing the
    module attribute reaches every validation and ranking trial. ``None`` leaves NNCF's f32.
    """
    if properties is None:
        yield
        return
    import openvino as ov

    model_has_state = require("nncf.openvino.graph.model_utils", "model_has_state").model_has_state
    openvino_backend = require("nncf.quantization.algorithms.accuracy_control.openvino_backend", "OVPreparedModel")
    base = openvino_backend.OVPreparedModel
    config = dict(properties)

    class PreparedAsDeployed(base):  # type: ignore[misc, valid-type]
        def __init__(self, model: ov.Model, use_fp32_precision: bool = True) -> None:
            # Mirrors NNCF's own __init__, with the deployment's properties in place of forced f32.
            self._stateful = model_has_state(model)
            self._compiled_model = ov.compile_model(model, device_name=device, config=config)
            self._engine = None

    openvino_backend.OVPreparedModel = PreparedAsDeployed
    try:
        yield
    finally:
        openvino_backend.OVPreparedModel = base
