"""How long each quantizable operation takes as INT8 and at the plugin's default precision (per-layer counters).

Speed-aware mixed precision needs, per quantized operation of the IR, the time the CPU spends on it when it
runs INT8 and when it runs at the default precision (bf16 on AMX). The CPU plugin's per-layer performance
counters (``PERF_COUNT``) give times per *runtime* layer; each runtime layer names the IR operations it was
fused from in its rt_info ``originalLayersNames``. So an operation's time is the time of the runtime layers
that contain it, shared equally among the quantizable operations fused into the same layer. In the INT8
model the activation quantizers' own layers (a FakeQuantize the plugin could not fuse, and the Reorders
around it) are charged to the operations they feed.

This module is self-contained on purpose. Issue 10 adds a shared per-layer profile (``ovq.runtime.profile``)
for reports; when it lands, :func:`layer_times` can be pointed at it (same inputs: a compiled model with
``PERF_COUNT`` and one input; same output: runtime layer -> microseconds and its original IR operations)
and everything below stays as it is.

Example::

    speeds = operation_speeds(int8_model, default_model, example_inputs, operations=["fc1/MatMul"])
    speeds["fc1/MatMul"].int8_us, speeds["fc1/MatMul"].default_us
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

#: Inferences profiled per model after the warm-up.
PROFILE_ITERATIONS = 40
_WARMUP_ITERATIONS = 5
#: Per-layer time is this quantile over the iterations: a low one, because on a shared machine other
#: processes only ever add time to a layer (the median of 30 on a loaded 2-core machine varied 10x between
#: the identical Q and K projections of one MiniLM layer).
LAYER_TIME_QUANTILE = 0.0
#: Elementwise operations the plugin fuses into the layer before them (bias Add, dequantization Multiply,
#: activation): a fused layer may be named after any of them, so they are aliases of that operation.
_FUSED_SUCCESSORS = frozenset(
    {"Add", "Multiply", "Subtract", "Divide", "Gelu", "Relu", "Swish", "HSwish", "Sigmoid", "Clamp", "Convert"}
)


@dataclass(frozen=True)
class RuntimeLayer:
    """One executed layer of a compiled model: its time and the IR operations fused into it."""

    name: str
    layer_type: str
    exec_type: str
    time_us: float
    original_operations: tuple[str, ...]


@dataclass(frozen=True)
class OperationSpeed:
    """One quantizable operation's time (microseconds per inference) as INT8 and at the default precision."""

    operation: str
    int8_us: float | None
    default_us: float | None
    int8_layers: tuple[str, ...]
    default_layers: tuple[str, ...]

    @property
    def saving_us(self) -> float | None:
        """What running this operation in INT8 saves per inference (negative: INT8 is slower)."""
        if self.int8_us is None or self.default_us is None:
            return None
        return self.default_us - self.int8_us

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saving_us": self.saving_us}


def layer_times(compiled: ov.CompiledModel, inputs: Any, *, iterations: int = PROFILE_ITERATIONS) -> list[RuntimeLayer]:
    """Median time per runtime layer over ``iterations`` inferences of ``inputs`` (model compiled with PERF_COUNT).

    The one place that reads the plugin's counters; point it at ``ovq.runtime.profile`` once that exists.
    """
    request = compiled.create_infer_request()
    for _ in range(_WARMUP_ITERATIONS):
        request.infer(inputs)
    samples: dict[str, list[float]] = {}
    kinds: dict[str, tuple[str, str]] = {}
    for _ in range(iterations):
        request.infer(inputs)
        for info in request.profiling_info:
            samples.setdefault(info.node_name, []).append(info.real_time.total_seconds() * 1e6)
            kinds[info.node_name] = (info.node_type, info.exec_type)
    originals: dict[str, tuple[str, ...]] = {}
    for node in compiled.get_runtime_model().get_ordered_ops():
        rt_info = node.get_rt_info()
        names = rt_info["originalLayersNames"].astype(str) if "originalLayersNames" in rt_info else ""
        originals[node.get_friendly_name()] = tuple(name for name in names.split(",") if name)
    return [
        RuntimeLayer(
            name=name,
            layer_type=kinds[name][0],
            exec_type=kinds[name][1],
            time_us=_quantile(times, LAYER_TIME_QUANTILE),
            original_operations=originals.get(name, (name,)),
        )
        for name, times in samples.items()
    ]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def operation_aliases(model: ov.Model, operations: Sequence[str]) -> dict[str, str]:
    """IR name -> the operation it belongs to: the operation itself and the elementwise chain fused after it.

    The CPU plugin names a FullyConnected after the bias Add it absorbed and lists only that name in
    ``originalLayersNames`` (measured: bf16 MiniLM's ``.../aten::linear/Add``), while the INT8 layer is named
    after the MatMul. Following single-consumer elementwise successors makes both match the MatMul.
    """
    wanted = set(operations)
    nodes = {node.get_friendly_name(): node for node in model.get_ops()}
    aliases: dict[str, str] = {}
    for name in operations:
        node = nodes.get(name)
        aliases[name] = name
        for _ in range(4):
            if node is None or node.get_output_size() != 1:
                break
            consumers = list(node.output(0).get_target_inputs())
            if len(consumers) != 1:
                break
            node = consumers[0].get_node()
            successor = node.get_friendly_name()
            if node.get_type_name() not in _FUSED_SUCCESSORS or successor in wanted:
                break
            aliases.setdefault(successor, name)
    return aliases


def profile_compiled(
    model: ov.Model, inputs: Any, *, properties: Mapping[str, Any] | None = None
) -> list[RuntimeLayer]:
    """Compile ``model`` with per-layer counters on, one stream and one thread, and profile it.

    One thread: a layer split over several threads waits for the slowest, so one core taken by another
    process doubles every layer's time at random; on one thread the comparison between the INT8 and the
    default-precision kernel of the same operation stays stable (the kernels are the same ISA either way).
    """
    import openvino as ov

    config = {
        **dict(properties or {}),
        "PERF_COUNT": "YES",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": "1",
    }
    compiled = ov.Core().compile_model(model, "CPU", config)
    return layer_times(compiled, inputs)


def operation_times(
    layers: Sequence[RuntimeLayer],
    operations: Sequence[str],
    overhead_owners: Mapping[str, Sequence[str]] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, tuple[float | None, tuple[str, ...]]]:
    """Time per operation from runtime layers: each layer's time is shared equally by the operations in it.

    ``aliases`` maps IR names to the operation they belong to (:func:`operation_aliases`; default: each
    operation is only its own name). ``overhead_owners`` maps other IR names (e.g. an activation
    FakeQuantize) to the operations that pay for them: a layer made only of such names is charged to those
    operations. None: no layer ran it.
    """
    alias = dict(aliases or {op: op for op in operations})
    owners = {name: list(ops) for name, ops in (overhead_owners or {}).items()}
    times: dict[str, float] = {}
    where: dict[str, list[str]] = {op: [] for op in operations}

    def owner(name: str) -> str | None:
        if name in alias:
            return alias[name]
        # Low-precision transformations name what they derive "<operation>/DequantizationMultiply".
        base = name
        while "/" in base:
            base = base.rpartition("/")[0]
            if base in alias:
                return alias[base]
        return None

    for layer in layers:
        inside = [op for op in map(owner, (*layer.original_operations, layer.name)) if op is not None]
        if not inside:
            payers = sorted({op for name in layer.original_operations for op in owners.get(name, ())})
            inside = [op for op in payers if op in where]
        for op in dict.fromkeys(inside):
            times[op] = times.get(op, 0.0) + layer.time_us / len(set(inside))
            where[op].append(layer.name)
    return {op: (times.get(op), tuple(where[op])) for op in operations}


def operation_speeds(
    int8_layers: Sequence[RuntimeLayer],
    default_layers: Sequence[RuntimeLayer],
    operations: Sequence[str],
    overhead_owners: Mapping[str, Sequence[str]] | None = None,
    *,
    int8_aliases: Mapping[str, str] | None = None,
    default_aliases: Mapping[str, str] | None = None,
) -> dict[str, OperationSpeed]:
    """Match the two profiles by IR operation name: each operation's INT8 and default-precision time.

    The aliases come from :func:`operation_aliases` on the INT8 model and on the default-precision model.
    """
    int8 = operation_times(int8_layers, operations, overhead_owners, int8_aliases)
    default = operation_times(default_layers, operations, None, default_aliases)
    return {op: OperationSpeed(op, int8[op][0], default[op][0], int8[op][1], default[op][1]) for op in operations}


def operation_signatures(model: ov.Model, operations: Sequence[str]) -> dict[str, str]:
    """Operation -> its kind, input shapes and attributes: equal signatures run the same kernel."""
    nodes = {node.get_friendly_name(): node for node in model.get_ops()}
    signatures = {}
    for name in operations:
        node = nodes[name]
        shapes = [str(node.get_input_partial_shape(port)) for port in range(node.get_input_size())]
        signatures[name] = f"{node.get_type_name()}{shapes}{sorted(node.get_attributes().items())}"
    return signatures


def pooled_by_signature(
    speeds: Mapping[str, OperationSpeed], signatures: Mapping[str, str]
) -> dict[str, OperationSpeed]:
    """Each operation's times replaced by the median over the operations of its signature.

    Operations with equal signatures run the same kernel on the same shapes, so their true times are
    equal; on a shared machine single layers still catch another process's time slice now and then
    (measured on MiniLM with 8 processes on 2 cores: identical projections read 70 us and 890 us), and
    the median over the six layers' copies removes that.
    """
    import statistics

    groups: dict[str, list[str]] = {}
    for name, signature in signatures.items():
        groups.setdefault(signature, []).append(name)

    def median(values: list[float | None]) -> float | None:
        known = [value for value in values if value is not None]
        return float(statistics.median(known)) if known else None

    pooled = {}
    for name, speed in speeds.items():
        group = groups.get(signatures.get(name, ""), [name])
        pooled[name] = OperationSpeed(
            name,
            median([speeds[other].int8_us for other in group if other in speeds]),
            median([speeds[other].default_us for other in group if other in speeds]),
            speed.int8_layers,
            speed.default_layers,
        )
    return pooled


def total_us(layers: Sequence[RuntimeLayer]) -> float:
    """Sum of all runtime layers' median times: the profile's estimate of one inference."""
    return float(sum(layer.time_us for layer in layers))
