"""report.md: a run report as Markdown, rendered from the report dict only (see ovq.report.rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ovq.report.optimize_section import optimize_lines
from ovq.report.rows import (
    BASELINE_NOTE,
    DASH,
    Report,
    VariantRow,
    accuracy_metric,
    environment_items,
    fmt_bytes,
    fmt_drop,
    fmt_execution,
    fmt_latency_triplet,
    fmt_metric,
    fmt_ms,
    fmt_number,
    fmt_ratio,
    fmt_reduction,
    fmt_seconds,
    precision_notes,
    row_notes,
    stage_items,
    variant_rows,
)


def _cell(text: Any) -> str:
    # A pipe or newline inside a cell would break the table.
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A GitHub-flavoured Markdown table; `align` has one of l/r per column (default: first l, rest r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    separator = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(separator) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def header_lines(report: Report) -> list[str]:
    """Title, status line and, for a failed run, the error with its hint."""
    status = str(report.get("status", "unknown"))
    lines = [f"# ovq report: {report.get('pipeline', 'run')}", ""]
    facts = [f"**Status:** {status}"]
    if report.get("started_at"):
        facts.append(f"started {report['started_at']}")
    if isinstance(report.get("duration_s"), int | float):
        facts.append(f"took {fmt_seconds(float(report['duration_s']))}")
    if report.get("pipeline_file"):
        facts.append(f"pipeline file `{report['pipeline_file']}`")
    if report.get("config_digest"):
        facts.append(f"config `{str(report['config_digest'])[:12]}`")
    lines += [" · ".join(facts), ""]
    error = report.get("error")
    if isinstance(error, Mapping):
        where = f" in stage `{error['stage']}`" if error.get("stage") else ""
        lines += [f"> **Failed{where}** ({error.get('type', 'error')}): {error.get('message', '')}"]
        if error.get("hint"):
            lines += [">", f"> **Hint:** {error['hint']}"]
        lines.append("")
    return lines


def variant_table(report: Report, rows: Sequence[VariantRow]) -> str:
    metric = accuracy_metric(rows)
    headers = ["Variant", "Precision", "Size", "vs FP32"]
    if metric is not None:
        headers += [metric, "Drop"]
    headers += ["Throughput (FPS)", "Speed-up", "Latency ms (median / p90 / p99)", "Executed as", "Notes"]
    body = []
    for row in rows:
        name = f"**{row.label}**" if row.deliverable else row.label
        cells: list[Any] = [name, row.precision, fmt_bytes(row.size_bytes), fmt_reduction(row)]
        if metric is not None:
            cells += [fmt_metric(row.accuracy_value), fmt_drop(row)]
        cells += [
            fmt_number(row.throughput_fps),
            fmt_ratio(row.speedup),
            fmt_latency_triplet(row),
            fmt_execution(row),
            ", ".join(row_notes(row)) or DASH,
        ]
        body.append(cells)
    return table(headers, body, align="ll" + "r" * (len(headers) - 4) + "ll")


def settings_table(rows: Sequence[VariantRow]) -> str:
    headers = [
        "Variant",
        "Hint",
        "Inference precision",
        "Requests",
        "Streams",
        "Threads",
        "Count",
        "Duration",
        "Repeats",
        "First inference (ms)",
        "Compile (ms)",
    ]
    body = [
        [
            row.label,
            row.hint or DASH,
            row.inference_precision or DASH,
            fmt_number(row.num_requests, 0),
            fmt_number(row.num_streams, 0),
            fmt_number(row.num_threads, 0),
            fmt_number(row.count, 0),
            fmt_seconds(row.duration_s),
            fmt_number(row.repeats, 0),
            fmt_ms(row.first_inference_ms),
            fmt_ms(row.compile_ms),
        ]
        for row in rows
        if row.throughput_fps is not None
    ]
    return table(headers, body, align="lll" + "r" * 8)


def budget_lines(report: Report) -> list[str]:
    budget = report.get("budget")
    if not isinstance(budget, Mapping):
        return []
    simple = [(k, v) for k, v in budget.items() if not isinstance(v, Mapping | list)]
    lines = ["## Accuracy budget", ""]
    if simple:
        lines += [table(["Field", "Value"], simple, align="ll"), ""]
    for entry in budget.get("metrics") or []:
        if isinstance(entry, Mapping):
            lines.append("- " + ", ".join(f"{k}: {v}" for k, v in entry.items() if not isinstance(v, Mapping | list)))
    if budget.get("metrics"):
        lines.append("")
    return lines


def render_markdown(report: Report) -> str:
    """The whole report as Markdown: header, variants, settings, budget, stages, environment."""
    rows = variant_rows(report)
    lines = header_lines(report)
    lines += ["## Variants", ""]
    if rows:
        lines += [variant_table(report, rows), ""]
        if report.get("deliverable"):
            lines += [f"Deliverable: **{report['deliverable']}**", ""]
        lines += [f"- {note}" for note in precision_notes(report, rows)]
        if any(r.noisy for r in rows):
            lines.append("- *noisy*: the throughput varied a lot across repeats; rerun on a quieter machine.")
        if any(r.baseline for r in rows):
            lines.append(f"- {BASELINE_NOTE}")
        lines.append("")
        if any(r.throughput_fps is not None for r in rows):
            lines += ["### Benchmark settings", "", settings_table(rows), ""]
    else:
        lines += ["No variants were produced.", ""]
    lines += budget_lines(report)
    lines += optimize_lines(report)
    stages = stage_items(report)
    if stages:
        lines += ["## Stages", ""]
        lines += [
            table(
                ["Stage", "Kind", "Status", "Duration", "Cached"],
                [
                    [
                        s["name"],
                        s["kind"],
                        s["status"],
                        fmt_seconds(s["duration_s"]),
                        "yes" if s["cached"] else "no",
                    ]
                    for s in stages
                ],
                align="lllrl",
            ),
            "",
        ]
    environment = environment_items(report)
    if environment:
        lines += ["## Environment", "", table(["", "Version / value"], environment, align="ll"), ""]
    return "\n".join(lines).rstrip() + "\n"
