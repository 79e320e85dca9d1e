"""A benchmark matrix: the same variants under several hints, batch sizes, input shapes, streams and requests.

Every combination of the listed settings is a *cell*. Each cell reshapes (batch, input shapes) and compiles
every variant with the cell's settings; then all (cell, variant) pairs are measured interleaved by
:func:`benchmark_interleaved` (cell 1 A, B, C, cell 2 A, B, C, ..., repeated), so machine drift hits them all
alike and every variant gets a paired speed-up against the reference *in the same cell*, with its interval
and verdict (:mod:`ovq.benchmarking.protocol`); rounds are added while a cell's comparison is undecided. A
variant that compiles to the same thing as another (``twins``) is measured once per cell and never ranked.

Throughput is counted in samples: ``samples/s = batch x inferences/s``. A tiny model is bound by per-call
overhead at batch 1, so comparing inferences/s across batch sizes says little; samples/s does.

Example::

    cells = matrix_cells(hint=["latency", "throughput"], batch=[1, 8])
    result = benchmark_matrix({"fp32": fp32_model, "int8": int8_model}, cells, duration_s=2, repeats=3,
                              compile_options={"fp32": {"inference_precision": "f32"}})
    for entry in result.entries:
        print(entry.variant, entry.cell.label(), entry.samples_per_s, entry.speedup_vs_reference)
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.engine import NOISY_SPREAD, Api, BenchmarkResult, benchmark_interleaved, paired_speedup
from ovq.benchmarking.protocol import Extension, SpeedComparison, compare_runs, identical
from ovq.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import openvino as ov

    from ovq.benchmarking.engine import InputFeed, ProgressCallback

Shapes = dict[str, list[int]] | list[list[int]]

#: How the report describes where a cell's input data came from.
RANDOM_INPUTS = "random"
DATASET_INPUTS = "dataset"


@dataclasses.dataclass(frozen=True)
class MatrixCell:
    """One combination of settings; ``None`` keeps the variant's own (compile options, model shapes)."""

    hint: str | None = None
    batch: int | None = None
    num_streams: int | str | None = None
    num_requests: int | None = None
    input_shapes: Shapes | None = None

    def label(self) -> str:
        """A short human name, e.g. ``throughput · batch 8 · 2 streams``."""
        parts = [self.hint or "default hint"]
        if self.input_shapes is not None:
            shapes = self.input_shapes.values() if isinstance(self.input_shapes, dict) else self.input_shapes
            parts.append("shape " + " ".join("x".join(map(str, shape)) for shape in shapes))
        if self.batch is not None:
            parts.append(f"batch {self.batch}")
        if self.num_streams is not None:
            parts.append(f"{self.num_streams} streams")
        if self.num_requests is not None:
            parts.append(f"{self.num_requests} requests")
        return " · ".join(parts)


def matrix_cells(
    *,
    hint: Sequence[str | None] | None = None,
    batch: Sequence[int | None] | None = None,
    num_streams: Sequence[int | str | None] | None = None,
    num_requests: Sequence[int | None] | None = None,
    input_shapes: Sequence[Shapes | None] | None = None,
) -> list[MatrixCell]:
    """Every combination of the given values (a dimension left out: one ``None``), hint varying slowest."""
    grid = itertools.product(hint or [None], input_shapes or [None], batch or [None], num_streams or [None],
                             num_requests or [None])  # fmt: skip
    return [
        MatrixCell(hint=h, batch=b, num_streams=s, num_requests=r, input_shapes=shapes) for h, shapes, b, s, r in grid
    ]


@dataclasses.dataclass
class MatrixEntry:
    """One variant measured in one cell."""

    variant: str
    cell_index: int
    cell: MatrixCell
    batch: int  # the first dimension of the inputs as compiled (1 when every input is a scalar)
    input_shapes: list[list[int]]  # every input's shape as compiled, in input order
    inputs: str  # "random" or "dataset"
    result: BenchmarkResult
    compile_ms: float
    speedup_vs_reference: float | None = None
    latency_speedup_vs_reference: float | None = None
    comparison: SpeedComparison | None = None  # against the reference in the same cell (None: the reference)
    identical_to: str | None = None  # the variant measured for this one (the same compiled thing)

    @property
    def inferences_per_s(self) -> float:
        """Median over repeats of inference calls per second."""
        return statistics.median(run.count / run.duration_s for run in self.result.runs or [self.result])

    @property
    def samples_per_s(self) -> float:
        """batch x inferences/s: what a deployment that batches its samples gets through."""
        return self.batch * self.inferences_per_s

    def to_dict(self) -> dict[str, Any]:
        """The report's ``matrix.entries[]`` item."""
        result = self.result
        runs = result.runs or [result]
        return {
            "variant": self.variant,
            "cell": self.cell_index,
            "hint": result.hint,
            "batch": self.batch,
            "input_shapes": self.input_shapes,
            "num_streams": result.num_streams,
            "num_requests": result.num_requests,
            "num_threads": result.num_threads,
            "inference_precision": result.inference_precision,
            "inputs": self.inputs,
            "count": result.count,
            "samples": self.batch * result.count,
            "duration_s": result.duration_s,
            "repeats": result.repeats,
            "inferences_per_s": self.inferences_per_s,
            "samples_per_s": self.samples_per_s,
            "samples_per_s_runs": [self.batch * run.count / run.duration_s for run in runs],
            "latency_ms": dict(result.latency_ms),
            "spread": result.spread,
            "noisy": result.noisy,
            "speedup_vs_reference": self.speedup_vs_reference,
            "latency_speedup_vs_reference": self.latency_speedup_vs_reference,
            "vs_reference": self.comparison.to_dict() if self.comparison is not None else None,
            "identical_to": self.identical_to,
            "compile_ms": self.compile_ms,
        }


@dataclasses.dataclass
class MatrixResult:
    reference: str
    cells: list[MatrixCell]
    entries: list[MatrixEntry]

    def entry(self, variant: str, cell_index: int) -> MatrixEntry:
        return next(e for e in self.entries if e.variant == variant and e.cell_index == cell_index)


def cell_shapes(model: ov.Model, cell: MatrixCell, *, where: str = "matrix") -> list[list[int]]:
    """The static shape of every model input in a cell: the model's, then ``input_shapes``, then ``batch``.

    A shape whose rank differs from the model input's, an unknown input name, or a dimension left dynamic
    is a ConfigError naming ``where`` (the config field).
    """
    ports = list(model.inputs)
    shapes: list[Any] = [port.get_partial_shape() for port in ports]
    described = ", ".join(f"{p.get_any_name()}{p.get_partial_shape()}" for p in ports)
    if cell.input_shapes is not None:
        if isinstance(cell.input_shapes, dict):
            by_port: list[tuple[int, str, list[int]]] = []
            for name, shape in cell.input_shapes.items():
                index = next((i for i, port in enumerate(ports) if name in port.get_names()), None)
                if index is None:
                    raise ConfigError(f"{where}.input_shapes names unknown input {name!r}", hint=f"inputs: {described}")
                by_port.append((index, name, shape))
        else:
            if len(cell.input_shapes) != len(ports):
                raise ConfigError(
                    f"{where}.input_shapes: {len(cell.input_shapes)} shape(s) for a model with {len(ports)} input(s)",
                    hint=f"inputs: {described}",
                )
            by_port = [(i, ports[i].get_any_name(), shape) for i, shape in enumerate(cell.input_shapes)]
        for index, name, shape in by_port:
            rank = shapes[index].rank
            if rank.is_static and rank.get_length() != len(shape):
                raise ConfigError(
                    f"{where}.input_shapes: input {name!r} has rank {rank.get_length()} ({shapes[index]}),"
                    f" got {shape} (rank {len(shape)})",
                    hint=f"inputs: {described}",
                )
            shapes[index] = list(shape)
    resolved: list[list[int]] = []
    for index, shape in enumerate(shapes):
        if not isinstance(shape, list):
            if shape.rank.is_dynamic or (shape.is_dynamic and cell.batch is None):
                raise ConfigError(
                    f"{where}: input {ports[index].get_any_name()!r} has a dynamic shape {shape}",
                    hint="give its static shape in matrix.input_shapes",
                )
            shape = [dim.get_length() if dim.is_static else -1 for dim in shape]
        resolved.append(list(shape))
    if cell.batch is not None:
        if all(len(shape) == 0 for shape in resolved):
            raise ConfigError(f"{where}.batch: every model input is a scalar; there is no batch dimension to size")
        for shape in resolved:
            if shape:
                shape[0] = cell.batch
    dynamic = [ports[i].get_any_name() for i, shape in enumerate(resolved) if any(size < 1 for size in shape)]
    if dynamic:
        raise ConfigError(
            f"{where}: input(s) {dynamic} keep a dynamic dimension", hint="give their static shapes in input_shapes"
        )
    return resolved


def check_cells(model: ov.Model, cells: Sequence[MatrixCell], *, where: str = "matrix") -> None:
    """Raise the ConfigError a cell would hit, before anything is compiled or measured."""
    for cell in cells:
        cell_shapes(model, cell, where=where)


def batched_feeds(items: Sequence[InputFeed], shapes: Sequence[Sequence[int]], limit: int = 4) -> list[Any] | None:
    """Dataset feeds joined along the first dimension to fit ``shapes`` (up to ``limit`` feeds), or None.

    Items are arrays, tuples of arrays (input order) or dicts (input name -> array), as the datasets yield
    them. Scalar inputs are taken from the first item of each batch. None when the items cannot make these
    shapes (e.g. another image size): the cell then runs on random inputs.
    """
    import numpy as np

    def arrays(item: Any) -> list[np.ndarray]:
        if isinstance(item, Mapping):
            return [np.asarray(v) for v in item.values()]
        if isinstance(item, tuple | list):
            return [np.asarray(v) for v in item]
        return [np.asarray(item)]

    # The batch is counted on the first input that has dimensions; with scalars only, an item is a feed.
    lead = next((index for index, shape in enumerate(shapes) if shape), None)
    target = shapes[lead][0] if lead is not None else 1
    feeds: list[Any] = []
    pending: list[list[np.ndarray]] = []
    rows = 0
    for item in items:
        parts = arrays(item)
        if len(parts) != len(shapes):
            return None
        for array, shape in zip(parts, shapes, strict=True):
            if array.ndim != len(shape) or (shape and list(array.shape[1:]) != list(shape[1:])):
                return None
        pending.append(parts)
        rows += int(parts[lead].shape[0]) if lead is not None else 1
        if rows == target:
            joined = []
            for position, shape in enumerate(shapes):
                column = [part[position] for part in pending]
                joined.append(np.concatenate(column, axis=0) if shape else column[0])
            feeds.append(tuple(joined))
            pending, rows = [], 0
            if len(feeds) == limit:
                break
        elif rows > target:
            return None
    return feeds or None


def benchmark_matrix(
    models: Mapping[str, ov.Model | str | Path],
    cells: Sequence[MatrixCell],
    *,
    reference: str | None = None,
    compile_options: Mapping[str, Mapping[str, Any]] | None = None,
    dataset: Sequence[InputFeed] | None = None,
    repeats: int = 3,
    duration_s: float | None = None,
    iterations: int | None = None,
    warmup_iterations: int = 0,
    api: Api = "async",
    noisy_threshold: float = NOISY_SPREAD,
    progress: ProgressCallback | None = None,
    on_compiled: Callable[[str, int], None] | None = None,
    where: str = "matrix",
    extension: Extension | None = None,
    twins: Mapping[str, str] | None = None,
) -> MatrixResult:
    """Compile every variant in every cell, measure them all interleaved, pair each with the reference.

    Args:
        models: variant name -> model (an ov.Model or a model file); the first is the reference by default.
        cells: the settings to measure (see :func:`matrix_cells`).
        compile_options: per variant, keyword arguments of :func:`ovq.runtime.compile.compile_model`
            (inference_precision, num_threads, extra, and the hint/num_streams a cell leaves as None).
        dataset: input feeds; joined into batches where they fit a cell's shapes, else random inputs.
        repeats, duration_s, iterations, warmup_iterations, api, noisy_threshold: as in
            :func:`benchmark_interleaved`, per cell and variant.
        on_compiled: called with (variant, cell index) after each compile (progress for slow models).
        extension: how far rounds may be added while a cell's comparison with the reference is undecided
            (its ``pairs`` are set here: every measured variant against the reference, cell by cell).
        twins: variant -> the variant it compiles identically to (ovq.pipeline.identical); measured once.

    All compiled models are alive at once (that is what interleaving needs): a large model with many cells
    needs memory for each.
    """
    import openvino as ov

    from ovq.runtime.compile import compile_model
    from ovq.runtime.convert import read_model_file, reshape

    if not models or not cells:
        raise ConfigError("benchmark_matrix needs at least one model and one cell")
    reference = reference or next(iter(models))
    if reference not in models:
        raise ConfigError(f"reference {reference!r} is not one of the variants {list(models)}")
    twins = {name: twin for name, twin in (twins or {}).items() if twin in models and twin != name}
    twins = {name: twin for name, twin in twins.items() if twin not in twins}  # only measured ones stand in
    if twins.get(reference) is not None:
        raise ConfigError(f"the reference {reference!r} cannot be measured as another variant")
    read = {
        name: model if isinstance(model, ov.Model) else read_model_file(Path(model))
        for name, model in models.items()
        if name not in twins
    }
    shapes = [cell_shapes(read[reference], cell, where=where) for cell in cells]  # every error before compiling
    compiled: dict[str, ov.CompiledModel] = {}
    compile_ms: dict[str, float] = {}
    inputs: dict[str, Any] = {}
    requests: dict[str, int | None] = {}
    used_dataset: dict[int, bool] = {}
    for index, cell in enumerate(cells):
        feeds = batched_feeds(dataset, shapes[index]) if dataset else None
        used_dataset[index] = feeds is not None
        for name, model in read.items():
            options = dict((compile_options or {}).get(name, {}))
            if cell.hint is not None:
                options["hint"] = cell.hint
            if cell.num_streams is not None:
                options["num_streams"] = cell.num_streams
            variant_model = model.clone()
            reshape(variant_model, cell_shapes(model, cell, where=where))
            variant = compile_model(variant_model, **options)
            key = _key(index, name)
            compiled[key], compile_ms[key] = variant.compiled, variant.compile_ms
            inputs[key] = feeds
            requests[key] = cell.num_requests
            if on_compiled is not None:
                on_compiled(name, index)
    if extension is not None:
        pairs = tuple(
            (_key(index, name), _key(index, reference))
            for index in range(len(cells))
            for name in read
            if name != reference
        )
        extension = dataclasses.replace(extension, pairs=pairs)
    results = benchmark_interleaved(
        compiled,
        inputs,
        repeats=repeats,
        duration_s=duration_s,
        iterations=iterations,
        warmup_iterations=warmup_iterations,
        num_requests=requests,
        compile_ms=compile_ms,
        noisy_threshold=noisy_threshold,
        progress=progress,
        api=api,
        extension=extension,
    )
    entries = []
    for index, cell in enumerate(cells):
        baseline = results[_key(index, reference)]
        for name in models:
            measured_as = twins.get(name, name)
            key = _key(index, measured_as)
            result = results[key]
            comparison = None
            if name != reference:
                comparison = (
                    identical(measured_as)
                    if measured_as == reference
                    else compare_runs(result.throughput_fps_runs, baseline.throughput_fps_runs, versus=reference)
                )
            cell_input_shapes = [list(map(int, port.get_shape())) for port in compiled[key].inputs]
            entries.append(
                MatrixEntry(
                    variant=name,
                    cell_index=index,
                    cell=cell,
                    batch=next((shape[0] for shape in cell_input_shapes if shape), 1),
                    input_shapes=cell_input_shapes,
                    inputs=DATASET_INPUTS if used_dataset[index] else RANDOM_INPUTS,
                    result=result,
                    compile_ms=compile_ms[key],
                    speedup_vs_reference=paired_speedup(result, baseline),
                    latency_speedup_vs_reference=paired_speedup(result, baseline, metric="latency"),
                    comparison=comparison,
                    identical_to=measured_as if measured_as != name else None,
                )
            )
    return MatrixResult(reference=reference, cells=list(cells), entries=entries)


def _key(cell_index: int, variant: str) -> str:
    return f"{cell_index}:{variant}"
