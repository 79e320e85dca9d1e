"""Everything a human reads about a run, rendered from report.json alone.

The report dict (RUN_DIR/report.json, schema_version 1) is the single source: the console table, report.md
and report.html are views of it and never read anything else. Only the contract's core fields are relied
on; every other field is optional, so a failed run, a run without accuracy or benchmark numbers, or a report
written by an older ovq still renders.

    >>> from ovq.report.markdown import render_markdown
    >>> markdown = render_markdown(json.loads(Path("runs/x/report.json").read_text()))

This module holds the pieces every view shares (the per-variant row model and number formatting); the views
live in console.py, markdown.py and html.py, the SVG plots in plots.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

Report = Mapping[str, Any]

# Runtimes other than OpenVINO: their variants are baselines (what a user would run instead of ovq).
BASELINE_RUNTIMES = {"pytorch": "PyTorch eager", "onnxruntime": "ONNX Runtime"}
BASELINE_NOTE = (
    "Baselines (PyTorch eager, ONNX Runtime) are measured the way their users run them: one model or "
    "session, synchronous calls in a loop, threads = cores."
)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    # bool is an int subclass; a flag must never be plotted or formatted as a number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


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
    execution_precision: dict[str, float] = field(default_factory=dict)
    speedup_vs_default: float | None = None
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


def reference_variant(variants: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The variant sizes and speed-ups are relative to: ovq's own FP32 (the pipeline's first variant)."""
    own = [v for v in variants if not v.get("baseline") and v.get("runtime", "openvino") == "openvino"]
    for candidate in (
        [v for v in own if v.get("name") == "fp32"],
        [v for v in own if v.get("precision") == "fp32"],
    ):
        if candidate:
            return candidate[0]
    return own[0] if own else None


def variant_rows(report: Report) -> list[VariantRow]:
    """Rows for every variant of `report`, with size ratios and speed-ups filled in where computable."""
    variants = [v for v in report.get("variants") or [] if isinstance(v, Mapping)]
    reference = reference_variant(variants)
    reference_size = _number(reference.get("size_bytes")) if reference else None
    reference_fps = _number(_dict(reference.get("benchmark")).get("throughput_fps")) if reference else None
    deliverable = report.get("deliverable")
    rows = []
    for variant in variants:
        accuracy = _dict(variant.get("accuracy"))
        bench = _dict(variant.get("benchmark"))
        latency = _dict(bench.get("latency_ms"))
        size = _number(variant.get("size_bytes"))
        size_ratio = _number(variant.get("size_ratio"))
        if size_ratio is None and size is not None and reference_size:
            size_ratio = size / reference_size
        fps = _number(bench.get("throughput_fps"))
        # The benchmark stage's speed-up pairs interleaved repeats, which beats a ratio of two medians.
        speedup = _number(bench.get("speedup_vs_reference"))
        if speedup is None and fps is not None and reference_fps:
            speedup = fps / reference_fps
        percentiles = bench.get("latency_percentiles_ms")
        execution = _dict(variant.get("execution_precision"))
        rows.append(
            VariantRow(
                name=str(variant.get("name", "?")),
                precision=str(variant.get("precision", "?")),
                runtime=str(variant.get("runtime") or "openvino"),
                baseline=bool(variant.get("baseline")),
                deliverable=deliverable is not None and variant.get("name") == deliverable,
                source=variant.get("source"),
                model_path=variant.get("model_path"),
                size_bytes=size,
                size_ratio=size_ratio,
                accuracy_metric=accuracy.get("metric"),
                accuracy_value=_number(accuracy.get("value")),
                accuracy_drop=_number(accuracy.get("drop")),
                higher_is_better=accuracy.get("higher_is_better") is not False,
                throughput_fps=fps,
                latency_median_ms=_number(latency.get("median", latency.get("p50"))),
                latency_p90_ms=_number(latency.get("p90")),
                latency_p99_ms=_number(latency.get("p99")),
                latency_percentiles_ms=[float(x) for x in percentiles or [] if _number(x) is not None],
                speedup=speedup,
                hint=bench.get("hint"),
                inference_precision=bench.get("inference_precision"),
                num_requests=_number(bench.get("num_requests")),
                num_streams=_number(bench.get("num_streams")),
                num_threads=_number(bench.get("num_threads")),
                count=_number(bench.get("count")),
                duration_s=_number(bench.get("duration_s")),
                first_inference_ms=_number(bench.get("first_inference_ms")),
                compile_ms=_number(bench.get("compile_ms")),
                repeats=_number(bench.get("repeats")),
                spread=_number(bench.get("spread")),
                noisy=bool(bench.get("noisy")),
                execution_precision={k: n for k, v in execution.items() if (n := _number(v)) is not None},
                speedup_vs_default=_number(bench.get("speedup_vs_default")),
                role=variant.get("role"),
                warnings=warning_messages(variant),
                profile=_dict(variant.get("profile")),
            )
        )
    return rows


def warning_messages(variant: Mapping[str, Any]) -> list[str]:
    """A variant's warnings as sentences (stored as objects with a ``message``, or as plain strings)."""
    messages = []
    for warning in variant.get("warnings") or []:
        if isinstance(warning, Mapping) and warning.get("message"):
            messages.append(str(warning["message"]))
        elif isinstance(warning, str):
            messages.append(warning)
    return messages


def accuracy_metric(rows: Sequence[VariantRow]) -> str | None:
    """The metric name shared by the rows (the first one found), for column headers."""
    return next((r.accuracy_metric for r in rows if r.accuracy_metric), None)


def budget_threshold(report: Report, rows: Sequence[VariantRow]) -> tuple[str | None, float] | None:
    """The lowest acceptable metric value (highest, if lower is better) implied by the budget, if any.

    Budgets are read tolerantly: an explicit ``threshold``/``min_value``, or a ``max_drop`` (absolute, or
    relative when ``drop_type``/``mode`` says so) from the ``reference`` value or the FP32 variant's value.
    With several budget metrics, the one matching the plotted metric is used.
    """
    budget = report.get("budget")
    if not isinstance(budget, Mapping):
        return None
    entries = [e for e in budget.get("metrics") or [] if isinstance(e, Mapping)] or [budget]
    metric = accuracy_metric(rows)
    entry = next((e for e in entries if e.get("metric") in (None, metric)), None)
    if entry is None:
        return None
    for key in ("threshold", "min_value", "minimum", "max_value"):
        if (value := _number(entry.get(key))) is not None:
            return metric, value
    max_drop = _number(entry.get("max_drop", entry.get("max_accuracy_drop")))
    if max_drop is None:
        return None
    reference = _number(entry.get("reference"))
    if reference is None:
        ref_row = next((r for r in rows if r.name == "fp32" and r.accuracy_value is not None), None)
        reference = ref_row.accuracy_value if ref_row else None
    if reference is None:
        return None
    higher_is_better = entry.get("higher_is_better", rows[0].higher_is_better if rows else True) is not False
    relative = str(entry.get("drop_type", entry.get("mode", "absolute"))).lower() == "relative"
    drop = max_drop * abs(reference) if relative else max_drop
    return metric, reference - drop if higher_is_better else reference + drop


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


def environment_items(report: Report) -> list[tuple[str, str]]:
    """(key, value) pairs of the environment block, lists joined, in a stable useful order."""
    environment = _dict(report.get("environment"))
    order = ["ovq", "openvino", "nncf", "torch", "python", "platform", "cpu", "cpu_count"]
    keys = [k for k in order if k in environment] + sorted(k for k in environment if k not in order)
    items = []
    for key in keys:
        value = environment[key]
        if key == "cpu_flags" and isinstance(value, list | tuple):
            # The full flag list is ~100 words; these are the ones that decide INT8/BF16 speed.
            value = [f for f in value if any(s in str(f) for s in _SPEED_FLAGS)] or value
        if isinstance(value, list | tuple):
            value = " ".join(map(str, value))
        items.append((key, str(value) if value is not None else DASH))
    return items


def stage_items(report: Report) -> list[dict[str, Any]]:
    """The stages list with missing fields defaulted, for tables."""
    stages = []
    for stage in report.get("stages") or []:
        if isinstance(stage, Mapping):
            stages.append(
                {
                    "name": str(stage.get("name", "?")),
                    "kind": str(stage.get("kind") or stage.get("name", "?")),
                    "status": str(stage.get("status", "?")),
                    "duration_s": _number(stage.get("duration_s")),
                    "cached": bool(stage.get("cached")),
                }
            )
    return stages


def precision_notes(report: Report, rows: Sequence[VariantRow]) -> list[str]:
    """Sentences about how FP32 was measured and which FP32 execution was faster, for every view."""
    notes = []
    reference = reference_variant([v for v in report.get("variants") or [] if isinstance(v, Mapping)])
    ref_row = next((r for r in rows if reference is not None and r.name == reference.get("name")), None)
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
