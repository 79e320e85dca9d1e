"""Everything a human reads about a run, rendered from report.json alone.

The report (RUN_DIR/report.json, ``ovq.report.schema.Report``) is the single source: the console table,
report.md and report.html are views of it and never read anything else. Every view accepts a parsed
``Report`` or a report.json document (any readable schema version), so a failed run, a run without
accuracy or benchmark numbers, or a report written by an older ovq still renders.

    >>> from ovq.report.markdown import render_markdown
    >>> markdown = render_markdown(read_report("runs/x"))

This module holds the pieces every view shares (the per-variant row model and number formatting); the views
live in console.py, markdown.py and html.py, the SVG plots in plots.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ovq.report.schema import ReportLike, SpeedComparison, VariantReport, parse_report

# Runtimes other than OpenVINO: their variants are baselines (what a user would run instead of ovq).
BASELINE_RUNTIMES = {"pytorch": "PyTorch eager", "onnxruntime": "ONNX Runtime", "litert": "LiteRT"}
BASELINE_NOTE = (
    "Baselines (PyTorch eager, ONNX Runtime, LiteRT) are measured the way their users run them: one model or "
    "session, synchronous calls in a loop, threads = cores."
)


@dataclass
class VariantRow:
    """One variant's numbers, pulled out of the report with every optional field made explicit."""

    name: str
    precision: str
    runtime: str = "openvino"
    baseline: bool = False
    deliverable: bool = False
    source: str | None = None
    model_path: str | None = None
    size_bytes: float | None = None
    size_ratio: float | None = None
    accuracy_metric: str | None = None
    accuracy_value: float | None = None
    accuracy_drop: float | None = None
    higher_is_better: bool = True
    throughput_fps: float | None = None
    latency_median_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_percentiles_ms: list[float] = field(default_factory=list)
    speedup: float | None = None
    hint: str | None = None
    inference_precision: str | None = None
    num_requests: float | None = None
    num_streams: float | None = None
    num_threads: float | None = None
    count: float | None = None
    duration_s: float | None = None
    first_inference_ms: float | None = None
    compile_ms: float | None = None
    repeats: float | None = None
    spread: float | None = None
    noisy: bool = False
    #: The benchmark numbers were replayed from the stage cache (see `benchmark_cached`), not measured by this run.
    cached: bool = False
    execution_precision: dict[str, float] = field(default_factory=dict)
    # Every metric the run measured on this variant: name -> (value, drop vs FP32), in declaration order.
    metrics: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    speedup_vs_default: float | None = None
    #: The paired verdicts with their intervals (benchmark.comparisons: "reference", "default").
    comparisons: dict[str, SpeedComparison] = field(default_factory=dict)
    #: Measured once with this variant: both compile to the same thing.
    identical_to: str | None = None
    role: str | None = None
    #: Warning sentences (slower than the default or FP32, larger than FP32), as stored in report.json.
    warnings: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def size_reduction(self) -> float | None:
        """Fraction of the FP32 size saved (0.75 = four times smaller)."""
        return None if self.size_ratio is None else 1.0 - self.size_ratio

    @property
    def label(self) -> str:
        """Display name: baselines say which runtime they ran in."""
        if self.baseline and self.runtime in BASELINE_RUNTIMES and not self.name.startswith(self.runtime):
            return f"{self.name} ({BASELINE_RUNTIMES[self.runtime]})"
        return self.name


def reference_variant(variants: Sequence[VariantReport]) -> VariantReport | None:
    """The variant sizes and speed-ups are relative to: ovq's own FP32 (the pipeline's first variant)."""
    own = [v for v in variants if not v.baseline and v.runtime == "openvino"]
    for candidate in ([v for v in own if v.name == "fp32"], [v for v in own if v.precision == "fp32"]):
        if candidate:
            return candidate[0]
    return own[0] if own else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def benchmark_cached(report: ReportLike) -> bool | None:
    """Whether the run's benchmark numbers were replayed from the stage cache; None without a benchmark stage.

    Read from the report's stages (kind "benchmark", `cached`): true when any of them was replayed. A cache hit
    is not a measurement: such numbers were measured earlier, under another load.
    """
    stages = [stage for stage in parse_report(report).stages if stage.kind == "benchmark"]
    return any(stage.cached for stage in stages) if stages else None


CACHED_NOTE = (
    "The benchmark numbers were replayed from the stage cache (measured earlier, under another load; marked"
    ' "cached"); `ovq pipeline run --remeasure` measures them again.'
)


def variant_rows(report: ReportLike) -> list[VariantRow]:
    """Rows for every variant of `report`, with size ratios and speed-ups filled in where computable."""
    report = parse_report(report)
    replayed = bool(benchmark_cached(report))
    reference = reference_variant(report.variants)
    reference_size = _float(reference.size_bytes) if reference else None
    reference_fps = reference.benchmark.throughput_fps if reference and reference.benchmark else None
    rows = []
    for variant in report.variants:
        accuracy, bench = variant.accuracy, variant.benchmark
        size = _float(variant.size_bytes)
        size_ratio = variant.size_ratio
        if size_ratio is None and size is not None and reference_size:
            size_ratio = size / reference_size
        fps = bench.throughput_fps if bench else None
        # The benchmark stage's speed-up pairs interleaved repeats, which beats a ratio of two medians.
        speedup = bench.speedup_vs_reference if bench else None
        if speedup is None and fps is not None and reference_fps:
            speedup = fps / reference_fps
        latency = bench.latency_ms if bench else None
        rows.append(
            VariantRow(
                name=variant.name,
                precision=variant.precision,
                runtime=variant.runtime,
                baseline=variant.baseline,
                deliverable=report.deliverable is not None and variant.name == report.deliverable,
                source=variant.source,
                model_path=variant.model_path,
                size_bytes=size,
                size_ratio=size_ratio,
                accuracy_metric=accuracy.metric if accuracy else None,
                accuracy_value=accuracy.value if accuracy else None,
                accuracy_drop=accuracy.drop if accuracy else None,
                higher_is_better=accuracy.higher_is_better if accuracy else True,
                throughput_fps=fps,
                latency_median_ms=(latency.median if latency.median is not None else latency.p50) if latency else None,
                latency_p90_ms=latency.p90 if latency else None,
                latency_p99_ms=latency.p99 if latency else None,
                latency_percentiles_ms=list(bench.latency_percentiles_ms) if bench else [],
                speedup=speedup,
                hint=bench.hint if bench else None,
                inference_precision=bench.inference_precision if bench else None,
                num_requests=_float(bench.num_requests) if bench else None,
                num_streams=_float(bench.num_streams) if bench else None,
                num_threads=_float(bench.num_threads) if bench else None,
                count=_float(bench.count) if bench else None,
                duration_s=bench.duration_s if bench else None,
                first_inference_ms=bench.first_inference_ms if bench else None,
                compile_ms=bench.compile_ms if bench else None,
                repeats=_float(bench.repeats) if bench else None,
                spread=bench.spread if bench else None,
                noisy=bench.noisy if bench else False,
                cached=replayed and bench is not None,
                execution_precision={k: float(v) for k, v in (variant.execution_precision or {}).items()},
                metrics={name: (score.value, score.drop) for name, score in variant.metrics.items()},
                speedup_vs_default=bench.speedup_vs_default if bench else None,
                comparisons=dict(bench.comparisons) if bench else {},
                identical_to=bench.identical_to if bench else None,
                role=variant.role,
                warnings=[warning.message for warning in variant.warnings],
                profile=dict(variant.profile or {}),
            )
        )
    return rows


def accuracy_metric(rows: Sequence[VariantRow]) -> str | None:
    """The metric name shared by the rows (the first one found), for column headers."""
    return next((r.accuracy_metric for r in rows if r.accuracy_metric), None)


SPEEDUP_NOTE = (
    "Speed-up: the median over interleaved repeats of each repeat's throughput ratio to FP32 (paired, so"
    " machine drift cancels), with its 95% bootstrap interval in brackets; a difference is claimed only when"
    " the interval clears 1 ± 5%, otherwise it is a tie (or undecided when more repeats could not settle it)."
    " FPS is the median repeat's throughput, so FPS ratios can differ slightly."
)


def metric_names(rows: Sequence[VariantRow]) -> list[str]:
    """Every metric any variant was measured with, in the order the run declared them."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.metrics))
        if row.accuracy_metric and not row.metrics:
            names[row.accuracy_metric] = None
    return list(names)


def metric_headers(names: Sequence[str]) -> list[tuple[str, str]]:
    """(value header, drop header) per metric; a lone metric keeps the plain "Drop" header."""
    return [(name, "Drop" if len(names) == 1 else f"{name} drop") for name in names]


def metric_value_and_drop(row: VariantRow, name: str) -> tuple[float | None, float | None]:
    if name in row.metrics:
        return row.metrics[name]
    if name == row.accuracy_metric:
        return row.accuracy_value, row.accuracy_drop
    return None, None


def fmt_metric_drop(drop: float | None) -> str:
    if drop is None:
        return DASH
    return f"{drop:+.4f}" if abs(drop) < 10 else f"{drop:+.2f}"


def budget_threshold(report: ReportLike, rows: Sequence[VariantRow]) -> tuple[str, float] | None:
    """The worst acceptable value of the plotted metric under the budget: (metric, value), if any.

    The plotted metric is the variants' first (``accuracy``) metric; it has a threshold only when the budget
    limits it (``budget.metrics[metric]``). The reference value is the one the budget gate compared with
    (its checks), else the FP32 reference's score.
    """
    report = parse_report(report)
    metric = accuracy_metric(rows)
    if report.budget is None or metric is None or metric not in report.budget.metrics:
        return None
    checks = [c for v in report.budget.variants.values() for c in v.checks if c.metric == metric]
    check = next((c for c in checks if c.reference is not None), None)
    if check is not None and check.reference is not None:
        reference, higher_is_better = check.reference, check.higher_is_better
    else:
        variant = reference_variant(report.variants)
        score = variant.metrics.get(metric) if variant else None
        if score is None or score.value is None:
            return None
        reference, higher_is_better = score.value, score.higher_is_better
    threshold = report.budget.threshold(metric, reference, higher_is_better=higher_is_better)
    return None if threshold is None else (metric, threshold)


def budget_limit_lines(report: ReportLike) -> list[str]:
    """One sentence per budgeted metric, e.g. ``top1: drop at most 0.01 (absolute) -> at least 0.9733``."""
    report = parse_report(report)
    if report.budget is None:
        return []
    reference = reference_variant(report.variants)
    lines = []
    for metric, limit in report.budget.metrics.items():
        line = f"{metric}: drop at most {limit.max_drop:.4g} ({limit.drop_type})"
        score = reference.metrics.get(metric) if reference else None
        if score is not None and score.value is not None:
            bound = report.budget.threshold(metric, score.value, higher_is_better=score.higher_is_better)
            if bound is not None:
                line += f" → {'at least' if score.higher_is_better else 'at most'} {bound:.4g}"
        lines.append(line)
    return lines


def budget_check_rows(report: ReportLike) -> list[list[str]]:
    """[variant, verdict, metric, value, reference, drop, allowed, missed by] per budget check."""
    report = parse_report(report)
    if report.budget is None:
        return []
    rows = []
    for name, verdict in report.budget.variants.items():
        for index, check in enumerate(verdict.checks):
            # A null number says why when the writer recorded it (e.g. "Infinity").
            pointer = f"/budget/variants/{name}/checks/{index}"
            why_drop = report.nulls.get(f"{pointer}/drop", DASH)
            why_missed = report.nulls.get(f"{pointer}/missed_by", DASH)
            rows.append(
                [
                    name,
                    "met" if check.met else "missed",
                    check.metric,
                    fmt_metric(check.value),
                    fmt_metric(check.reference),
                    why_drop if check.drop is None else f"{check.drop:+.4g}",
                    f"{check.max_drop:.4g}" + (" rel." if check.drop_type == "relative" else ""),
                    why_missed if check.missed_by is None else (f"{check.missed_by:.4g}" if check.missed_by else DASH),
                ]
            )
    return rows


# ---- number formatting shared by every view ------------------------------------------------------------

DASH = "–"


def fmt_number(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return DASH
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def fmt_ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}×"


def fmt_speedup(row: VariantRow, against: str = "reference") -> str:
    """A speed-up cell: the paired ratio with its interval and the verdict when it is not a clear difference.

    ``1.32× [1.25–1.40]``; ``1.01× [0.97–1.04] tie``; ``= fp32`` for the same compiled model, measured once.
    """
    value = row.speedup if against == "reference" else row.speedup_vs_default
    return fmt_compared(value, row.comparisons.get(against), row.name)


def fmt_compared(value: float | None, comparison: SpeedComparison | None, name: str) -> str:
    """A ratio with its interval and verdict (see :func:`fmt_speedup`); the bare ratio when there is none."""
    if comparison is None or value is None:
        return fmt_ratio(value)
    if comparison.verdict == "identical":
        return f"= {comparison.versus}" if comparison.versus and comparison.versus != name else "1.00×"
    if comparison.low is None or comparison.high is None:
        return fmt_ratio(value)
    text = f"{value:.2f}× [{comparison.low:.2f}–{comparison.high:.2f}]"
    return text + {"tie": " tie", "undecided": " undecided"}.get(comparison.verdict, "")


def fmt_reduction(row: VariantRow) -> str:
    reduction = row.size_reduction
    if reduction is None or row.size_ratio is None:
        return DASH
    if abs(reduction) < 0.005:
        return "="
    return f"−{reduction:.0%}" if reduction > 0 else f"+{-reduction:.0%}"


def fmt_metric(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def fmt_drop(row: VariantRow) -> str:
    if row.accuracy_drop is None:
        return DASH
    return f"{row.accuracy_drop:+.4f}" if abs(row.accuracy_drop) < 10 else f"{row.accuracy_drop:+.2f}"


def fmt_latency_triplet(row: VariantRow) -> str:
    if row.latency_median_ms is None:
        return DASH
    return " / ".join(fmt_ms(v) for v in (row.latency_median_ms, row.latency_p90_ms, row.latency_p99_ms))


def fmt_cached(text: str, cached: bool) -> str:
    """A benchmark cell with " cached" appended when its numbers were replayed from the stage cache."""
    return text + " cached" if cached and text != DASH else text


def fmt_execution(row: VariantRow, top: int = 3) -> str:
    """Share of executed layers per precision, e.g. ``u8 52% · f32 40% · i8 8%``."""
    counts = {k: v for k, v in row.execution_precision.items() if v > 0}
    total = sum(counts.values())
    if not total:
        return DASH
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    parts = [f"{name} {count / total:.0%}" for name, count in ordered[:top]]
    if len(ordered) > top:
        parts.append("…")
    return " · ".join(parts)


def row_notes(row: VariantRow) -> list[str]:
    """Short flags a reader must not miss (deliverable, baseline, noisy measurement, missing numbers)."""
    notes = []
    if row.deliverable:
        notes.append("deliverable")
    if row.baseline:
        notes.append("baseline")
    if row.noisy:
        spread = f" (spread {row.spread:.0%})" if row.spread is not None else ""
        notes.append(f"noisy{spread}")
    if row.throughput_fps is None:
        notes.append("not benchmarked")
    if row.role == "default_precision":
        notes.append("plugin default")
    if row.warnings:
        notes.append(f"{len(row.warnings)} warning{'s' if len(row.warnings) > 1 else ''}")
    return notes


_SPEED_FLAGS = ("avx2", "avx512", "vnni", "amx", "bf16", "fp16")


def environment_items(report: ReportLike) -> list[tuple[str, str]]:
    """(key, value) pairs of the environment block, lists joined, in a stable useful order."""
    environment = parse_report(report).environment.model_dump()
    order = ["ovq", "openvino", "nncf", "torch", "python", "platform", "cpu", "cpu_count"]
    keys = [k for k in order if environment.get(k) is not None]
    keys += sorted(k for k in environment if k not in order and environment[k] not in (None, []))
    items = []
    for key in keys:
        value = environment[key]
        if key == "cpu_flags" and isinstance(value, list | tuple):
            # The full flag list is ~100 words; these are the ones that decide INT8/BF16 speed.
            value = [f for f in value if any(s in str(f) for s in _SPEED_FLAGS)] or value
        if isinstance(value, list | tuple):
            value = " ".join(map(str, value))
        items.append((key, str(value)))
    return items


def stage_items(report: ReportLike) -> list[dict[str, Any]]:
    """The stages as plain dicts (name, kind, status, duration_s, cached), for tables."""
    return [
        {"name": s.name, "kind": s.kind, "status": s.status, "duration_s": s.duration_s, "cached": s.cached}
        for s in parse_report(report).stages
    ]


def null_notes(report: ReportLike) -> list[str]:
    """Why numbers are missing: one sentence per entry of the report's ``nulls`` map."""
    return [f"`{pointer}` is empty: {reason}" for pointer, reason in parse_report(report).nulls.items()]


def precision_notes(report: ReportLike, rows: Sequence[VariantRow]) -> list[str]:
    """Sentences about how FP32 was measured and which FP32 execution was faster, for every view."""
    notes = []
    reference = reference_variant(parse_report(report).variants)
    ref_row = next((r for r in rows if reference is not None and r.name == reference.name), None)
    if ref_row is not None and ref_row.inference_precision:
        if ref_row.inference_precision.lower() in ("f32", "fp32"):
            notes.append(
                f"The FP32 baseline `{ref_row.name}` is measured as true f32 (inference precision f32); "
                "speed-ups are relative to it."
            )
        else:
            notes.append(
                f"The reference `{ref_row.name}` ran with inference precision {ref_row.inference_precision}, "
                "not true f32."
            )
    fp32_rows = [r for r in rows if r.precision == "fp32" and not r.baseline and r.throughput_fps is not None]
    precisions = {r.inference_precision for r in fp32_rows}
    if len(fp32_rows) > 1 and len(precisions) > 1:
        fastest = max(fp32_rows, key=lambda r: r.throughput_fps or 0.0)
        notes.append(
            f"The FP32 model was measured at several inference precisions; the fastest is `{fastest.name}` "
            f"({fastest.inference_precision}, {fmt_number(fastest.throughput_fps)} FPS)."
        )
    return notes


def measured_cells(row: VariantRow, metric_names: Sequence[str], *, with_default: bool) -> list[str]:
    """The variant-table cells the console and report.md share: every metric and its drop, FPS, speed-ups,
    latencies and what executed (HTML formats the same values with its own markup)."""
    cells: list[str] = []
    for metric in metric_names:
        value, drop = metric_value_and_drop(row, metric)
        cells += [fmt_metric(value), fmt_metric_drop(drop)]
    return [
        *cells,
        fmt_cached(fmt_number(row.throughput_fps), row.cached),
        fmt_speedup(row),
        *([fmt_speedup(row, "default")] if with_default else []),
        fmt_cached(fmt_latency_triplet(row), row.cached),
        fmt_execution(row),
    ]
