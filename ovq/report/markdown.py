"""report.md: a run report as Markdown, rendered from the report dict only (see ovq.report.rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ovq.benchmarking.targets import EMULATION_NOTE
from ovq.report.cpu_view import cpu_class_line, target_lines
from ovq.report.matrix import HEADERS as MATRIX_HEADERS
from ovq.report.matrix import best_entries, matrix_notes, matrix_rows
from ovq.report.optimize_section import optimize_lines
from ovq.report.profile_view import (
    PROFILE_HEADERS,
    PROFILE_NOTE,
    TOP_LAYER_HEADERS,
    default_speedup_note,
    profile_cells,
    profiled_rows,
    top_layer_cells,
    warning_items,
)
from ovq.report.rows import (
    BASELINE_NOTE,
    CACHED_NOTE,
    DASH,
    SPEEDUP_NOTE,
    VariantRow,
    budget_check_rows,
    budget_limit_lines,
    environment_items,
    fmt_bytes,
    fmt_ms,
    fmt_number,
    fmt_reduction,
    fmt_seconds,
    measured_cells,
    metric_headers,
    metric_names,
    null_notes,
    precision_notes,
    row_notes,
    stage_items,
    variant_rows,
)
from ovq.report.schema import Report, ReportLike, parse_report


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
    lines = [f"# ovq report: {report.pipeline}", ""]
    facts = [f"**Status:** {report.status}"]
    if report.started_at:
        facts.append(f"started {report.started_at}")
    if report.duration_s is not None:
        facts.append(f"took {fmt_seconds(report.duration_s)}")
    if report.pipeline_file:
        facts.append(f"pipeline file `{report.pipeline_file}`")
    if report.config_digest:
        facts.append(f"config `{report.config_digest[:12]}`")
    lines += [" · ".join(facts), ""]
    if (line := cpu_class_line(report)) is not None:
        lines += [line, ""]
    error = report.error
    if error is not None:
        where = f" in stage `{error.stage}`" if error.stage else ""
        lines += [f"> **Failed{where}** ({error.type}): {error.message}"]
        if error.hint:
            lines += [">", f"> **Hint:** {error.hint}"]
        lines.append("")
    return lines


def variant_table(report: ReportLike, rows: Sequence[VariantRow]) -> str:
    names = metric_names(rows)
    headers = ["Variant", "Precision", "Size", "vs FP32"]
    for value_header, drop_header in metric_headers(names):
        headers += [value_header, drop_header]
    with_default = any(row.speedup_vs_default is not None for row in rows)
    headers += ["Throughput (FPS)", "Speed-up", *(["vs default"] if with_default else [])]
    headers += ["Latency ms (median / p90 / p99)", "Executed as", "Notes"]
    body = []
    for row in rows:
        name = f"**{row.label}**" if row.deliverable else row.label
        cells: list[Any] = [name, row.precision, fmt_bytes(row.size_bytes), fmt_reduction(row)]
        cells += [*measured_cells(row, names, with_default=with_default), ", ".join(row_notes(row)) or DASH]
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
    """The accuracy budget: its limits, the verdict, and every variant's check."""
    budget = report.budget
    if budget is None:
        return []
    verdict = f"met; deliverable **{budget.deliverable}**" if budget.met else "**missed**: no deliverable"
    where = f" on `{budget.dataset}`" if budget.dataset else ""
    select = f", the {budget.select} passing variant is delivered" if budget.select else ""
    lines = ["## Accuracy budget", "", f"Budget{where}{select}: {verdict}.", ""]
    if budget.reason:
        lines += [budget.reason + ".", ""]
    lines += [f"- {line}" for line in budget_limit_lines(report)] + [""]
    checks = budget_check_rows(report)
    if checks:
        headers = ["Variant", "Verdict", "Metric", "Value", "FP32", "Drop", "Allowed drop", "Missed by"]
        lines += [table(headers, checks, align="lll" + "r" * 5), ""]
    return lines


def matrix_lines(report: Report) -> list[str]:
    """The benchmark matrix: every variant in every cell (the plot is in report.html)."""
    matrix = report.matrix
    if matrix is None or not matrix.entries:
        return []
    lines = ["## Benchmark matrix", "", table(MATRIX_HEADERS, matrix_rows(matrix), align="lll" + "r" * 7 + "l"), ""]
    lines += [f"- {note}" for note in [*matrix_notes(matrix), *best_entries(matrix)]]
    return [*lines, "- The plot of this matrix is in report.html.", ""]


def profile_lines(rows: Sequence[VariantRow]) -> list[str]:
    """## Where the time goes: the per-variant profile table, then each variant's slowest layers."""
    profiled = profiled_rows(rows)
    if not profiled:
        return []
    lines = [
        "## Where the time goes",
        "",
        table(PROFILE_HEADERS, [profile_cells(r) for r in profiled], align="lr" + "l" * 6),
        "",
    ]
    lines += [f"- {PROFILE_NOTE}", ""]
    for row in profiled:
        lines += [
            f"### {row.label}: slowest layers",
            "",
            table(TOP_LAYER_HEADERS, top_layer_cells(row), align="llllrr"),
            "",
        ]
    return lines


def render_markdown(report: ReportLike) -> str:
    """The whole report as Markdown: header, variants, settings, matrix, budget, stages, environment."""
    report = parse_report(report)
    rows = variant_rows(report)
    lines = header_lines(report)
    if report.warnings:
        lines += ["## Warnings", "", *[f"- ⚠ {w}" for w in report.warnings], ""]
    lines += ["## Variants", ""]
    if warning_items(rows):
        lines += ["> **Warnings**", ">"]
        lines += [f"> - **{name}**: {message}" for name, message in warning_items(rows)]
        lines.append("")
    if rows:
        lines += [variant_table(report, rows), ""]
        if report.deliverable:
            lines += [f"Deliverable: **{report.deliverable}**", ""]
        lines += [f"- {note}" for note in precision_notes(report, rows)]
        if (note := default_speedup_note(rows)) is not None:
            lines.append(f"- {note}")
        if any(r.noisy for r in rows):
            lines.append("- *noisy*: the throughput varied a lot across repeats; rerun on a quieter machine.")
        if any(r.cached for r in rows):
            lines.append(f"- {CACHED_NOTE}")
        if any(r.baseline for r in rows):
            lines.append(f"- {BASELINE_NOTE}")
        lines += [f"- {note}" for note in null_notes(report)]
        if any(r.speedup is not None for r in rows):
            lines.append(f"- {SPEEDUP_NOTE}")
        lines.append("")
        if any(r.throughput_fps is not None for r in rows):
            lines += ["### Benchmark settings", "", settings_table(rows), ""]
    else:
        lines += ["No variants were produced.", ""]
    lines += matrix_lines(report)
    lines += profile_lines(rows)
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
    targets = target_lines(report)
    if targets:
        lines += ["## Targets", "", f"Capped targets are {EMULATION_NOTE}.", ""]
        lines += [table(["Target", "Class / status", "Variants", "Deliverable"], targets, align="llll"), ""]
    environment = environment_items(report)
    if environment:
        lines += ["## Environment", "", table(["", "Version / value"], environment, align="ll"), ""]
    return "\n".join(lines).rstrip() + "\n"
