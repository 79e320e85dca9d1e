"""`ovq report`: regenerate a run's report.md/report.html, and compare two runs variant by variant.

    >>> write_report_files("runs/quickstart")              # report.json -> report.md + report.html
    >>> comparison = compare_reports(read_report("runs/a"), read_report("runs/b"))
    >>> print(render_comparison_markdown(comparison))

The comparison matches variants by name; for each metric it gives the value in run A, in run B, the delta
(B - A) and the ratio (B / A, None when A is zero or either side is missing). Everything is computed from
the two report dicts only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ovq.report.rows import (
    DASH,
    VariantRow,
    environment_items,
    fmt_bytes,
    fmt_metric,
    fmt_ms,
    fmt_number,
    fmt_ratio,
    variant_rows,
)
from ovq.report.schema import ReportLike, parse_report
from ovq.report.store import read_report, write_renderings
from ovq.runtime.artifacts import write_text_atomic

# (key, label, how to read it from a row, how to format a value)
METRICS: list[tuple[str, str, Callable[[VariantRow], float | None], Callable[[float | None], str]]] = [
    ("size_bytes", "size", lambda r: r.size_bytes, fmt_bytes),
    ("accuracy", "accuracy", lambda r: r.accuracy_value, fmt_metric),
    ("accuracy_drop", "accuracy drop", lambda r: r.accuracy_drop, fmt_metric),
    ("throughput_fps", "throughput (FPS)", lambda r: r.throughput_fps, fmt_number),
    ("speedup", "speed-up vs FP32", lambda r: r.speedup, lambda v: fmt_ratio(v)),
    ("latency_median_ms", "latency median (ms)", lambda r: r.latency_median_ms, fmt_ms),
    ("latency_p90_ms", "latency p90 (ms)", lambda r: r.latency_p90_ms, fmt_ms),
    ("latency_p99_ms", "latency p99 (ms)", lambda r: r.latency_p99_ms, fmt_ms),
]
_FORMATS = {key: (label, fmt) for key, label, _, fmt in METRICS}
# Accuracy is left out: whether up is good depends on the metric, which a comparison cannot always know.
HIGHER_IS_BETTER = frozenset({"throughput_fps", "speedup"})
LOWER_IS_BETTER = frozenset({"size_bytes", "latency_median_ms", "latency_p90_ms", "latency_p99_ms", "accuracy_drop"})


def _pair(a: float | None, b: float | None) -> dict[str, float | None]:
    delta = b - a if a is not None and b is not None else None
    ratio = b / a if a is not None and b is not None and a != 0 else None
    return {"a": a, "b": b, "delta": delta, "ratio": ratio}


def _run_summary(report: ReportLike) -> dict[str, Any]:
    document = parse_report(report).to_document()
    return {
        key: document.get(key)
        for key in ("pipeline", "status", "started_at", "duration_s", "config_digest", "deliverable")
    }


def compare_reports(report_a: ReportLike, report_b: ReportLike) -> dict[str, Any]:
    """Per-variant metric pairs of two runs: {"a", "b", "variants": [...], "environment": [...]}.

    Each variant entry has ``name``, ``present`` ("both", "a" or "b") and ``metrics``: for every key of
    ``METRICS`` a dict with ``a``, ``b``, ``delta`` (b - a) and ``ratio`` (b / a).
    """
    report_a, report_b = parse_report(report_a), parse_report(report_b)
    rows_a = {r.name: r for r in variant_rows(report_a)}
    rows_b = {r.name: r for r in variant_rows(report_b)}
    names = list(dict.fromkeys([*rows_a, *rows_b]))
    variants = []
    for name in names:
        row_a, row_b = rows_a.get(name), rows_b.get(name)
        present = "both" if row_a and row_b else "a" if row_a else "b"
        metrics = {
            key: _pair(read(row_a) if row_a else None, read(row_b) if row_b else None) for key, _, read, _ in METRICS
        }
        variants.append({"name": name, "present": present, "metrics": metrics})
    env_a, env_b = dict(environment_items(report_a)), dict(environment_items(report_b))
    environment = [
        {"key": key, "a": env_a.get(key), "b": env_b.get(key), "changed": env_a.get(key) != env_b.get(key)}
        for key in dict.fromkeys([*env_a, *env_b])
    ]
    return {
        "a": _run_summary(report_a),
        "b": _run_summary(report_b),
        "variants": variants,
        "environment": environment,
    }


def _format_delta(key: str, value: float | None) -> str:
    if value is None:
        return DASH
    formatted = _FORMATS[key][1](abs(value))
    return ("+" if value >= 0 else "−") + formatted


def change_direction(key: str, delta: float | None) -> str | None:
    """ "better", "worse" or None (no change, unknown, or a metric without a fixed good direction)."""
    if delta is None or delta == 0 or key not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return None
    return "better" if (delta > 0) == (key in HIGHER_IS_BETTER) else "worse"


def comparison_rows(comparison: Mapping[str, Any]) -> list[list[str]]:
    """Table rows [variant, metric, A, B, delta, ratio] for metrics present in at least one run."""
    return [cells for _, _, cells in _comparison_entries(comparison)]


def _comparison_entries(comparison: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], list[str]]]:
    rows = []
    for variant in comparison["variants"]:
        for key, values in variant["metrics"].items():
            if values["a"] is None and values["b"] is None:
                continue
            label, fmt = _FORMATS[key]
            cells = [
                variant["name"],
                label,
                fmt(values["a"]),
                fmt(values["b"]),
                _format_delta(key, values["delta"]),
                fmt_ratio(values["ratio"]),
            ]
            rows.append((key, values, cells))
    return rows


def _run_label(summary: Mapping[str, Any]) -> str:
    pipeline, status = summary.get("pipeline") or "?", summary.get("status") or "?"
    return f"{pipeline} ({status}, started {summary.get('started_at') or '?'})"


def render_comparison_markdown(comparison: Mapping[str, Any]) -> str:
    """The comparison as Markdown: which runs, per-variant metric table, environment differences."""
    from ovq.report.markdown import table

    lines = [
        "# ovq comparison",
        "",
        f"- **A:** {_run_label(comparison['a'])}",
        f"- **B:** {_run_label(comparison['b'])}",
        "",
    ]
    only = [(v["name"], v["present"]) for v in comparison["variants"] if v["present"] != "both"]
    if only:
        lines += [f"- `{name}` only in run {side.upper()}" for name, side in only] + [""]
    rows = comparison_rows(comparison)
    if rows:
        lines += [table(["Variant", "Metric", "A", "B", "Δ (B − A)", "B / A"], rows, align="llrrrr"), ""]
    changed = [e for e in comparison["environment"] if e["changed"]]
    if changed:
        lines += [
            "## Environment differences",
            "",
            table(["", "A", "B"], [[e["key"], e["a"] or DASH, e["b"] or DASH] for e in changed], align="lll"),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def render_comparison_html(comparison: Mapping[str, Any]) -> str:
    """The comparison as one self-contained HTML page."""
    from ovq.report.html import esc, html_table, page

    parts = [
        "<h1>ovq comparison</h1>",
        f'<p class="facts"><strong>A:</strong> {esc(_run_label(comparison["a"]))}<br>'
        f"<strong>B:</strong> {esc(_run_label(comparison['b']))}</p>",
    ]
    only = [(v["name"], v["present"]) for v in comparison["variants"] if v["present"] != "both"]
    if only:
        parts.append(
            '<ul class="notes">'
            + "".join(f"<li><code>{esc(name)}</code> only in run {esc(side.upper())}</li>" for name, side in only)
            + "</ul>"
        )
    rows = comparison_rows(comparison)
    if rows:
        parts.append(
            "<h2>Variants</h2>"
            + html_table(
                ["Variant", "Metric", "A", "B", "Δ (B − A)", "B / A"],
                [_html_cells(key, values, cells) for key, values, cells in _comparison_entries(comparison)],
                align="ll",
            )
        )
    changed = [e for e in comparison["environment"] if e["changed"]]
    if changed:
        parts.append(
            "<h2>Environment differences</h2>"
            + html_table(
                ["", "A", "B"],
                [[esc(e["key"]), esc(e["a"] or DASH), esc(e["b"] or DASH)] for e in changed],
                align="lll",
            )
        )
    return page("ovq comparison", "\n".join(parts))


def _html_cells(key: str, values: Mapping[str, Any], cells: list[str]) -> list[str]:
    from ovq.report.html import esc

    escaped = [esc(c) for c in cells]
    direction = change_direction(key, values["delta"])
    if direction is not None:
        escaped[4] = f'<span class="{direction}">{escaped[4]}</span>'
    return escaped


def write_report_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Regenerate RUN_DIR/report.md and RUN_DIR/report.html from RUN_DIR/report.json; return their paths."""
    return write_renderings(Path(run_dir), read_report(run_dir))


def write_comparison_files(
    run_a: str | os.PathLike[str], run_b: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> list[Path]:
    """Compare two runs and write comparison.md and comparison.html into `output_dir`."""
    comparison = compare_reports(read_report(run_a), read_report(run_b))
    out = Path(output_dir)
    renderings = {
        out / "comparison.md": render_comparison_markdown(comparison),
        out / "comparison.html": render_comparison_html(comparison),
    }
    for path, text in renderings.items():
        write_text_atomic(path, text)
    return list(renderings)
