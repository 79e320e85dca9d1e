"""The report contract: RUN_DIR/report.json as pydantic models (schema_version 2).

Every writer and reader goes through these models: the pipeline runner writes with them
(``ovq.report.store``), the renderers, nightly gates, history and tracking read with them. Known fields are
typed and validated strictly (a bool is not a number, a string is not a number); fields this version does
not know are kept on read and written back unchanged (``extra="allow"``), so a newer writer's additions
survive an older reader and a merge of concurrent work.

Numbers are finite or ``null``. A value that was not finite (NaN, ±inf) is written as ``null`` and its
reason goes into the top-level ``nulls`` map, keyed by the field's JSON Pointer (RFC 6901)::

    "nulls": {"/variants/1/accuracy/drop": "Infinity (relative drop from a zero reference)"}

    >>> report = parse_report(json.loads(Path("runs/quickstart/report.json").read_text()))
    >>> report.variant("int8").benchmark.throughput_fps
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 2
# Versions this ovq reads; older ones are upgraded in memory by `upgrade_document`.
READABLE_VERSIONS = (1, 2)

RunStatus = Literal["running", "succeeded", "failed"]
StageStatus = Literal["running", "succeeded", "failed", "skipped"]


class ReportModel(BaseModel):
    """Base of every block: strict known fields, unknown fields kept, no NaN or infinity."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, validate_assignment=True)


class Environment(ReportModel):
    """The software and hardware a run measured on: every number in the report is only true for this."""

    ovq: str | None = Field(None, description="ovq version")
    openvino: str | None = Field(None, description="OpenVINO version")
    nncf: str | None = Field(None, description="NNCF version")
    torch: str | None = Field(None, description="torch version (null when not installed)")
    python: str | None = Field(None, description="Python version")
    platform: str | None = Field(None, description="OS and architecture")
    cpu: str | None = Field(None, description="CPU model name")
    cpu_count: int | None = Field(None, description="logical CPUs")
    cpu_flags: list[str] = Field(default_factory=list, description="the ISA flags that decide OpenVINO kernels")
    cpu_class: str | None = Field(
        None, description="the CPU class the run measured as (ovq.runtime.cpu_class: avx2 ... amx), after any ISA cap"
    )
    host_cpu_class: str | None = Field(None, description="the host CPU's own class, uncapped")
    isa_cap: str | None = Field(None, description="the class the process was capped to (ONEDNN_MAX_CPU_ISA), or null")


class StageRecord(ReportModel):
    """One stage of the run, in order; the budget gate appears as a stage of kind ``budget``."""

    name: str = Field(description="unique label: the kind, plus `:variant` when a kind repeats")
    kind: str = Field(description="stage kind (export, quantize, ..., budget)")
    status: StageStatus
    duration_s: float | None = Field(None, description="wall time of the stage")
    cached: bool = Field(False, description="replayed from the stage cache")
    details: dict[str, Any] | None = Field(None, description="stage-specific (free form)")


class MetricScore(ReportModel):
    """One metric of one variant, as evaluated on the deployed (compiled) model."""

    metric: str
    dataset: str | None = None
    value: float | None = Field(None, description="the score (null: not finite, see `nulls`)")
    reference: float | None = Field(None, description="the FP32 reference's score")
    drop: float | None = Field(None, description="positive = worse than the reference, direction-aware")
    higher_is_better: bool = True
    samples: int | None = Field(None, description="items evaluated")


class CompileMemory(ReportModel):
    peak_rss_bytes: int | None = None
    rss_start_bytes: int | None = None
    peak_added_bytes: int | None = Field(None, description="what compiling and one inference added")
    peak_is_own: bool | None = None


class CompileInfo(ReportModel):
    """How the variant was compiled, as resolved by the plugin."""

    hint: str | None = None
    inference_precision: str | None = None
    num_requests: int | None = None
    num_streams: int | None = None
    num_threads: int | None = None
    compile_ms: float | None = None
    properties: dict[str, Any] | None = None
    memory: CompileMemory | None = None


class LatencyMs(ReportModel):
    median: float | None = None
    average: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


class MachineConditions(ReportModel):
    """The machine's state over an interleaved measurement (ovq.runtime.machine_state)."""

    cores: int | None = None
    neighbours_before: float | None = Field(
        None, description="share of all CPUs other processes used just before measuring (an idle probe)"
    )
    neighbours_during: float | None = Field(
        None, description="the same share while measuring (ovq's own CPU time left out)"
    )
    load_before: float | None = Field(None, description="1-minute load average when measuring started")
    load_after: float | None = None
    steal_share: float | None = Field(None, description="share of CPU time the hypervisor stole meanwhile")
    calibration_before_ms: float | None = Field(None, description="a fixed single-core loop, timed before")
    calibration_after_ms: float | None = Field(None, description="the same loop, timed after")
    seconds: float | None = None
    busy: bool = Field(False, description="the load average exceeded the cores")
    changed: bool = Field(False, description="the conditions changed while measuring (calibration, steal)")
    why: list[str] = Field(default_factory=list)


class SpeedComparison(ReportModel):
    """A paired speed verdict with its interval (ovq.benchmarking.protocol)."""

    ratio: float | None = Field(None, description="median paired throughput ratio (> 1: faster)")
    low: float | None = Field(None, description="lower end of the bootstrap interval of that median")
    high: float | None = None
    repeats: int = Field(0, description="paired repeats behind it")
    verdict: Literal["faster", "slower", "tie", "undecided", "identical"]
    margin: float = Field(0.05, description="the difference below which two speeds are a tie")
    confidence: float = 0.95
    versus: str | None = None


class Benchmark(ReportModel):
    """benchmark_app's metrics for one variant (the median repeat when there are several)."""

    hint: str | None = None
    inference_precision: str | None = None
    num_requests: int | None = None
    num_streams: int | None = None
    num_threads: int | None = None
    count: int | None = Field(None, description="inferences in the headline repeat")
    duration_s: float | None = None
    throughput_fps: float | None = Field(None, description="inferences per second")
    latency_ms: LatencyMs = Field(default_factory=LatencyMs)
    latency_percentiles_ms: list[float] = Field(default_factory=list, description="percentile 0..100")
    first_inference_ms: float | None = None
    compile_ms: float | None = None
    repeats: int | None = None
    throughput_fps_runs: list[float] = Field(default_factory=list, description="throughput of each repeat")
    spread: float | None = Field(None, description="(max - min) / median of the repeats' throughput")
    noisy: bool = Field(False, description="the spread is too large to trust small differences")
    speedup_vs_reference: float | None = Field(None, description="paired ratio against the FP32 reference")
    speedup_vs_default: float | None = Field(
        None, description="paired ratio against the FP32 model at the plugin's default precision (bf16 on AMX)"
    )
    default_variant: str | None = Field(None, description="the variant speedup_vs_default is measured against")
    api: str | None = Field(None, description="async (OpenVINO requests) or sync (a loop of calls)")
    cpu_utilisation: float | None = Field(None, description="0..1 of all cores")
    machine: MachineConditions | None = Field(None, description="the load it ran under, measured")
    compiled_digest: str | None = Field(None, description="IR bytes + resolved compile settings: equal = identical")
    identical_to: str | None = Field(None, description="compiles to the same thing as this variant: measured once")
    comparisons: dict[str, SpeedComparison] = Field(
        default_factory=dict, description="reference / default: the paired verdict with its interval"
    )


class ExecutionCompute(ReportModel):
    """The compute-heavy layers only (Convolution, MatMul, FullyConnected, ...)."""

    layers: dict[str, int] = Field(default_factory=dict, description="layer count by executed precision")
    int8_share: float | None = None
    precision: str | None = Field(None, description="the most common executed precision")


class VariantWarning(ReportModel):
    """Why a variant should not be shipped as it is: slower than the default or FP32, or larger than FP32."""

    kind: str = Field(description="slower_than_default, slower_than_reference or larger_than_reference")
    message: str = Field(description="the sentence every view shows")
    versus: str | None = Field(None, description="the variant it was compared with")
    ratio: float | None = Field(None, description="median paired throughput ratio, or size ratio")
    reasons: list[str] = Field(default_factory=list, description="likely reasons from the per-layer profile")


class VariantReport(ReportModel):
    """One model the run produced (fp32, int8, ...) or a peer runtime measured beside them."""

    name: str
    precision: str
    source: str | None = Field(None, description="the variant it was made from")
    model_path: str | None = Field(None, description="the IR (.xml; its .bin beside it)")
    size_bytes: int | None = None
    size_ratio: float | None = Field(None, description="size relative to the FP32 reference")
    compile: CompileInfo | None = None
    accuracy: MetricScore | None = Field(None, description="the first metric; null if not evaluated")
    metrics: dict[str, MetricScore] = Field(default_factory=dict, description="every evaluated metric by name")
    benchmark: Benchmark | None = None
    execution_precision: dict[str, int] | None = Field(None, description="executed layers by precision")
    execution_compute: ExecutionCompute | None = None
    baseline: bool = Field(False, description="measured outside OpenVINO (PyTorch eager, ONNX Runtime)")
    runtime: str = Field("openvino", description="openvino, pytorch or onnxruntime")
    role: str | None = Field(None, description="default_precision: the FP32 model at the plugin's default")
    profile: dict[str, Any] | None = Field(
        None,
        description=(
            "where the time goes, from per-layer counters on a short separate run (its own PERF_COUNT compiled"
            " model, never the timed one): total_ms, by_precision, by_type, top_layers, conversions"
            " (Reorder/Convert), quantized {fallback, vs_default, per_operation[faster_than_default]}"
        ),
    )
    warnings: list[VariantWarning] = Field(default_factory=list, description="shown in every view")


class BudgetLimit(ReportModel):
    max_drop: float = Field(description="largest allowed drop: in the metric's units, or a fraction if relative")
    drop_type: Literal["absolute", "relative"] = "absolute"


class BudgetCheck(ReportModel):
    """One metric of one variant measured against its limit."""

    metric: str
    higher_is_better: bool = True
    reference: float | None = None
    value: float | None = None
    drop: float | None = None
    max_drop: float
    drop_type: Literal["absolute", "relative"] = "absolute"
    met: bool
    missed_by: float | None = Field(None, description="how far past the limit (0 when met)")


class BudgetVerdict(ReportModel):
    met: bool = Field(description="every check of this variant met")
    inference_precision: str | None = Field(None, description="as deployed when checked")
    hint: str | None = None
    checks: list[BudgetCheck] = Field(default_factory=list)


class Budget(ReportModel):
    """The accuracy budget's verdict: limits per metric, a verdict per compressed variant."""

    dataset: str | None = None
    metrics: dict[str, BudgetLimit] = Field(default_factory=dict, description="the limits, by metric name")
    select: str | None = Field(None, description="fastest or smallest")
    met: bool = Field(description="some variant met every limit")
    variants: dict[str, BudgetVerdict] = Field(default_factory=dict, description="verdict per compressed variant")
    deliverable: str | None = Field(None, description="same as the report's deliverable")
    default_variant: str | None = Field(None, description="the FP32 model at the plugin's default precision")
    faster_over_budget: list[str] = Field(
        default_factory=list,
        description="variants measured faster than the deliverable that the budget rejected (why not chosen)",
    )
    reason: str | None = Field(
        None, description="why the uncompressed model is the deliverable (null when a compressed variant is)"
    )

    def threshold(self, metric: str, reference: float, *, higher_is_better: bool = True) -> float | None:
        """The worst acceptable value of ``metric`` given the reference value, or None if not budgeted."""
        limit = self.metrics.get(metric)
        if limit is None:
            return None
        allowed = limit.max_drop * abs(reference) if limit.drop_type == "relative" else limit.max_drop
        return reference - allowed if higher_is_better else reference + allowed


class MatrixCellReport(ReportModel):
    """One combination of benchmark settings, as requested (null: the deployment's or the model's own)."""

    index: int
    label: str = Field(description="short human name, e.g. `throughput · batch 8`")
    hint: str | None = None
    batch: int | None = Field(None, description="first dimension of every input (null: the model's own)")
    num_streams: int | str | None = None
    num_requests: int | None = Field(None, description="parallel infer requests (null: the plugin's optimum)")
    input_shapes: dict[str, list[int]] | list[list[int]] | None = None


class MatrixEntryReport(ReportModel):
    """One variant measured in one cell, with the settings the plugin resolved."""

    variant: str
    cell: int = Field(description="index into matrix.cells")
    hint: str | None = None
    batch: int = Field(description="first dimension of the inputs as compiled")
    input_shapes: list[list[int]] = Field(default_factory=list, description="every input's shape as compiled")
    num_streams: int | None = None
    num_requests: int | None = None
    num_threads: int | None = None
    inference_precision: str | None = None
    inputs: str | None = Field(None, description="random, or dataset (its items joined into batches)")
    count: int | None = Field(None, description="inferences over all repeats")
    samples: int | None = Field(None, description="batch x count")
    duration_s: float | None = Field(None, description="measured seconds over all repeats")
    repeats: int | None = None
    inferences_per_s: float | None = Field(None, description="median over repeats of inference calls per second")
    samples_per_s: float | None = Field(None, description="batch x inferences_per_s")
    samples_per_s_runs: list[float] = Field(default_factory=list, description="samples/s of each repeat")
    latency_ms: LatencyMs = Field(default_factory=LatencyMs, description="per inference call (a whole batch)")
    spread: float | None = Field(None, description="(max - min) / median of the repeats' throughput")
    noisy: bool = False
    speedup_vs_reference: float | None = Field(
        None, description="median of paired throughput ratios against the reference in the same cell"
    )
    latency_speedup_vs_reference: float | None = Field(
        None, description="median of paired ratios of median latency (reference / variant), same cell"
    )
    vs_reference: SpeedComparison | None = Field(
        None, description="the paired throughput comparison with the reference in the same cell (null: the reference)"
    )
    identical_to: str | None = Field(None, description="the variant measured for this one (the same compiled thing)")
    compile_ms: float | None = None


class Matrix(ReportModel):
    """The benchmark matrix: every variant under every combination of the listed settings, interleaved."""

    reference: str = Field(description="the variant speed-ups are measured against")
    dimensions: dict[str, Any] = Field(default_factory=dict, description="the matrix as configured")
    duration_s: float | None = Field(None, description="seconds per cell, variant and repeat")
    iterations: int | None = None
    repeats: int | None = None
    api: str | None = None
    cells: list[MatrixCellReport] = Field(default_factory=list)
    entries: list[MatrixEntryReport] = Field(default_factory=list, description="one per variant and cell")

    def entry(self, variant: str, cell: int) -> MatrixEntryReport | None:
        return next((e for e in self.entries if e.variant == variant and e.cell == cell), None)

    def variants(self) -> list[str]:
        return list(dict.fromkeys(entry.variant for entry in self.entries))


class ReportError(ReportModel):
    stage: str | None = Field(None, description="the stage that failed (null: outside a stage)")
    type: str = Field(description="the error class, e.g. AccuracyBudgetError")
    message: str
    hint: str | None = Field(None, description="what to do about it")


class Report(ReportModel):
    """RUN_DIR/report.json."""

    schema_version: int = Field(SCHEMA_VERSION, description=f"{SCHEMA_VERSION}; version 1 files are upgraded on read")
    status: RunStatus = Field(description="running only while the run is in progress")
    pipeline: str = Field(description="the pipeline's name")
    pipeline_file: str | None = Field(None, description="the pipeline file run (null for a config object)")
    config_digest: str | None = Field(None, description="sha256 of the validated config")
    model_digest: str | None = Field(None, description="digest of the model source files")
    started_at: str | None = Field(None, description="ISO-8601 UTC")
    finished_at: str | None = Field(None, description="ISO-8601 UTC")
    duration_s: float | None = Field(None, description="wall time of the whole run")
    run_dir: str | None = Field(None, description="where the run's artifacts are")
    environment: Environment = Field(default_factory=Environment, description="what the numbers were measured on")
    stages: list[StageRecord] = Field(default_factory=list, description="in run order, the budget gate last")
    variants: list[VariantReport] = Field(default_factory=list, description="ovq's variants, then peers")
    budget: Budget | None = Field(None, description="the accuracy budget's verdict; null without a budget")
    deliverable: str | None = Field(None, description="the variant that met the budget; null if none or no budget")
    targets: list[dict[str, Any]] | None = Field(
        None,
        description=(
            "per CPU class the run answers for (compile.targets): status (measured, not_measurable_here,"
            " not_emulable_here), reason, how it was measured, each variant's accuracy/throughput, the deliverable"
            " and why; null when the run answers only for this machine"
        ),
    )
    matrix: Matrix | None = Field(None, description="the benchmark matrix; null when none was configured")
    error: ReportError | None = Field(None, description="why the run failed; null when it did not")
    datasets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="each dataset the run loaded: source, location, items, input_shapes, labeled, preprocessing",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what did not fail the run but must be seen (data cast, a variant that is not what its name says)",
    )
    nulls: dict[str, str] = Field(default_factory=dict, description="JSON Pointer of a null number -> why")

    def variant(self, name: str) -> VariantReport | None:
        return next((v for v in self.variants if v.name == name), None)

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready dict written to report.json (declared fields first, then kept extras)."""
        document: dict[str, Any] = self.model_dump(mode="json")
        return document


# ---- reading, upgrading, cleaning ----------------------------------------------------------------------


class ReportFormatError(ValueError):
    """A document that is not a readable report; the message names the first wrong field."""


#: What readers accept: a Report, or a report.json document of any readable version (parse_report reads it).
ReportLike = Report | Mapping[str, Any]


def parse_report(document: ReportLike) -> Report:
    """A validated Report from a report.json document of any readable version (or a Report itself)."""
    if isinstance(document, Report):
        return document
    if not isinstance(document, Mapping):
        raise ReportFormatError(f"a report is a JSON object, not {type(document).__name__}")
    upgraded = upgrade_document(document)
    try:
        return Report.model_validate(upgraded)
    except ValidationError as error:
        raise ReportFormatError(first_problem(error)) from None


def upgrade_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document in the current schema_version's shape (a copy; the input is not changed).

    Version 1 differs only in how non-finite numbers were written: as bare NaN/Infinity (which standard
    JSON parsers reject). They become ``null`` with their reason in ``nulls``. Any version is cleaned the
    same way, so a hand-edited file with a NaN still reads.
    """
    version = document.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in READABLE_VERSIONS:
        newest = max(READABLE_VERSIONS)
        hint = "upgrade ovq" if isinstance(version, int) and version > newest else "is this an ovq report.json?"
        raise ReportFormatError(f"schema_version {version!r} is not readable (this ovq reads 1..{newest}; {hint})")
    cleaned_value, nulls = clean_numbers(dict(document))
    cleaned: dict[str, Any] = cleaned_value
    cleaned["schema_version"] = SCHEMA_VERSION
    previous = cleaned.get("nulls")
    cleaned["nulls"] = {**nulls, **(previous if isinstance(previous, dict) else {})}
    return cleaned


def clean_numbers(value: Any, pointer: str = "") -> tuple[Any, dict[str, str]]:
    """A JSON-native copy of ``value`` with every non-finite float replaced by None.

    Returns the copy and ``{JSON Pointer: reason}`` for each replacement. Paths become strings, tuples lists,
    numpy scalars Python numbers (they must not reach the file as anything but numbers).
    """
    nulls: dict[str, str] = {}

    def walk(item: Any, path: str) -> Any:
        if isinstance(item, Mapping):
            return {str(key): walk(sub, f"{path}/{_escape(str(key))}") for key, sub in item.items()}
        if isinstance(item, list | tuple):
            return [walk(sub, f"{path}/{index}") for index, sub in enumerate(item)]
        if isinstance(item, Path):
            return str(item)
        if hasattr(item, "tolist") and not isinstance(item, str | bytes | int | float):
            # numpy scalars and arrays: Python numbers and lists, then cleaned like any other value.
            return walk(item.tolist(), path)
        if isinstance(item, float) and not math.isfinite(item):
            nulls[path] = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
            return None
        return item

    return walk(value, pointer), nulls


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def first_problem(error: ValidationError) -> str:
    """One line naming the first invalid field, e.g. ``variants.1.benchmark.throughput_fps: ...``."""
    problems = error.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first['msg']}{more}"
