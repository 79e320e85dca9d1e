"""The benchmark stage's config and its matrix of settings (see ovq.pipeline.stages.benchmark)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ovq.config.base import Hint, PositiveInt, Shapes, Strict


class BenchmarkMatrix(Strict):
    """Several settings measured in one run: every combination of the listed values (a cell) is compiled for
    every variant and all are measured interleaved, with paired speed-ups against FP32 in the same cell.

    A dimension left out keeps the compile stage's (hint, streams) or the benchmark stage's (requests)
    setting, or the model's own input shapes. Throughput is reported in samples/s = batch x inferences/s:
    tiny models are bound by per-call overhead at batch 1, so the batch is a dimension of its own. Example:
    `matrix: {hint: [latency, throughput], batch: [1, 16, 64]}` makes 6 cells (pipelines/digits_matrix.yaml).
    All cells' compiled models are kept in memory at once, which interleaving needs.
    """

    hint: list[Hint] | None = Field(None, min_length=1, description="performance hints to compare")
    batch: list[PositiveInt] | None = Field(
        None,
        min_length=1,
        description="batch sizes: the first dimension of every input (scalar inputs excepted) is reshaped to each",
    )
    num_streams: list[PositiveInt | Literal["auto"]] | None = Field(
        None, min_length=1, description="CPU stream counts to compare (default: the compile stage's)"
    )
    num_requests: list[PositiveInt] | None = Field(
        None, min_length=1, description="parallel infer requests (benchmark_app -nireq) to compare (async api)"
    )
    input_shapes: list[Shapes] | None = Field(
        None,
        min_length=1,
        description=(
            "input shapes to compare, each like export.input_shapes (by input name or in input order),"
            " static sizes only; batch, when also given, then sets the first dimension"
        ),
    )
    duration_s: float | None = Field(
        None, gt=0, description="seconds per cell, variant and repeat (default: the stage's duration_s/iterations)"
    )

    @model_validator(mode="after")
    def _cells_are_distinct(self) -> BenchmarkMatrix:
        dimensions = {name: getattr(self, name) for name in MATRIX_DIMENSIONS}
        if all(values is None for values in dimensions.values()):
            raise ValueError(f"give at least one of {', '.join(MATRIX_DIMENSIONS)}")
        for name, values in dimensions.items():
            listed: list[object] = list(values or [])
            repeated = [value for index, value in enumerate(listed) if value in listed[:index]]
            if repeated:
                raise ValueError(f"{name}: {repeated[0]!r} is listed twice (each value makes one cell)")
        shapes = self.input_shapes or []
        for number, entry in enumerate(shapes):
            for shape in entry.values() if isinstance(entry, dict) else entry:
                if any(size < 1 for size in shape):
                    raise ValueError(
                        f"input_shapes[{number}]: {shape} has a size < 1; a matrix cell needs static shapes"
                    )
        kinds = {type(entry) for entry in shapes}
        if len(kinds) > 1:
            raise ValueError("input_shapes: give every entry by input name or every entry in input order, not both")
        layouts = {
            tuple(sorted((name, len(shape)) for name, shape in entry.items()))
            if isinstance(entry, dict)
            else tuple(len(shape) for shape in entry)
            for entry in shapes
        }
        if len(layouts) > 1:
            raise ValueError(
                "input_shapes: every entry must name the same inputs with the same ranks (got "
                + " vs ".join(str(list(layout)) for layout in layouts)
                + ")"
            )
        return self

    def cell_count(self) -> int:
        count = 1
        for name in MATRIX_DIMENSIONS:
            count *= len(getattr(self, name) or [None])
        return count


MATRIX_DIMENSIONS = ("hint", "batch", "num_streams", "num_requests", "input_shapes")


class BenchmarkStage(Strict):
    stage: Literal["benchmark"]
    duration_s: float | None = Field(
        None, gt=0, description="measure each variant for this long per repeat (default: 10 s shared by the repeats)"
    )
    iterations: int | None = Field(None, ge=1, description="or for exactly this many inferences")
    warmup_iterations: int = Field(1, ge=0, description="untimed inferences after the first one")
    num_requests: int | None = Field(None, ge=1, description="default: the compiled model's optimal number")
    repeats: int = Field(
        5,
        ge=1,
        description=(
            "rounds of the interleaved measurement (A, B, B, A, ...); each comparison is read from the interval"
            " of its paired per-round ratios, which needs at least 5 (fewer are extended to 5)"
        ),
    )
    max_repeats: int | None = Field(
        None,
        ge=1,
        description=(
            "while a comparison with FP32 or the default is undecided (its interval straddles the 5% margin), add"
            " rounds up to this many (default: 3 x repeats, at least 6)"
        ),
    )
    decide_time_s: float | None = Field(
        None,
        gt=0,
        description="wall-time cap on those extra rounds (default: a quarter of the first rounds' planned time)",
    )
    dataset: str | None = Field(None, description="feed these inputs (default: random inputs of the right shape)")
    api: Literal["async", "sync"] = Field(
        "async", description="async: a queue of requests (benchmark_app's default); sync: one blocking request"
    )
    noisy_threshold: float = Field(0.10, gt=0, description="flag a result noisy when its repeat spread exceeds this")
    baselines: list[Literal["pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8", "litert"]] = Field(
        default_factory=list,
        description="also measure what a user would run instead, with the same inputs and report fields",
    )
    baseline_calibration: str | None = Field(
        None, description="calibration dataset for onnxruntime_int8 (default: the first quantize stage's)"
    )
    matrix: BenchmarkMatrix | None = Field(
        None,
        description=(
            "also measure every variant under several hints, batch sizes, input shapes, streams and requests"
            " (interleaved; the report's matrix section)"
        ),
    )
    profile: bool = Field(
        True,
        description=(
            "after the timed runs, collect per-layer performance counters of every variant on a short separate"
            " run (its own compiled model with PERF_COUNT) and record where the time goes"
        ),
    )
    profile_iterations: int = Field(10, ge=1, description="profiled inferences per variant (at least)")

    @model_validator(mode="after")
    def _duration_or_iterations(self) -> BenchmarkStage:
        if self.duration_s is not None and self.iterations is not None:
            raise ValueError("give duration_s or iterations, not both")
        if self.matrix is not None and self.matrix.num_requests is not None and self.api == "sync":
            raise ValueError("matrix.num_requests: the sync api runs one request; use api: async to vary requests")
        return self
