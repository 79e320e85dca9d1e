"""The comparison table the CLI prints (rich), rendered from report.json alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from ovq.report.cpu_view import cpu_class_line, target_lines
from ovq.report.matrix import compact_entry
from ovq.report.profile_view import console_lines
from ovq.report.rows import (
    CACHED_NOTE,
    SPEEDUP_NOTE,
    budget_limit_lines,
    fmt_bytes,
    fmt_reduction,
    measured_cells,
    metric_headers,
    metric_names,
    row_notes,
    variant_rows,
)
from ovq.report.schema import ReportLike, parse_report

if TYPE_CHECKING:
    from rich.table import Table


def render_console_table(report: ReportLike) -> Table:
    """The final comparison table the CLI prints (rich), one row per variant."""
    from rich.table import Table

    report = parse_report(report)
    rows = variant_rows(report)
    names = metric_names(rows)
    title = f"{report.pipeline} — {report.status}"
    if (line := cpu_class_line(report)) is not None:
        title += f" — {line}"
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("variant", style="bold")
    table.add_column("precision")
    table.add_column("size", justify="right")
    table.add_column("vs fp32", justify="right")
    for value_header, drop_header in metric_headers(names):
        table.add_column(value_header, justify="right")
        table.add_column(drop_header.lower() if drop_header == "Drop" else drop_header, justify="right")
    table.add_column("FPS", justify="right")
    table.add_column("speed-up¹", justify="right")
    with_default = any(row.speedup_vs_default is not None for row in rows)
    if with_default:
        table.add_column("vs default", justify="right")
    table.add_column("latency ms\nmed / p90 / p99", justify="right")
    table.add_column("executed as")
    table.add_column("notes")
    for row in rows:
        cells = [
            row.label + (" ★" if row.deliverable else ""),
            row.precision,
            fmt_bytes(row.size_bytes),
            fmt_reduction(row),
        ]
        cells += [
            *measured_cells(row, names, with_default=with_default),
            ", ".join(n for n in row_notes(row) if n != "deliverable"),
        ]
        table.add_row(*cells, style="dim" if row.baseline else None)
    captions = [f"warning: {warning}" for warning in report.warnings]
    if any(row.speedup is not None for row in rows):
        captions.append("¹ " + SPEEDUP_NOTE)
    if any(row.cached for row in rows):
        captions.append(CACHED_NOTE)
    if report.budget is not None:
        verdict = f"met, deliverable {report.deliverable}" if report.budget.met else "missed, no deliverable"
        captions.append(f"budget ({'; '.join(budget_limit_lines(report))}): {verdict}")
        if report.budget.reason:
            captions.append(report.budget.reason)
    if report.error is not None:
        captions.append(f"failed in {report.error.stage or '?'}: {report.error.message}")
    captions += console_lines(rows)  # where the time goes and the variants' warnings
    if captions:
        table.caption = "\n".join(captions)
        table.caption_justify = "left"
        table.caption_style = "red" if report.status == "failed" else "dim"
    return table


def render_console_targets(report: ReportLike) -> Table | None:
    """One row per CPU class the run answers for: its numbers, its deliverable and why (None: native only)."""
    from rich.table import Table

    rows = target_lines(report)
    if not rows:
        return None
    table = Table(title="targets: the CPU classes this run answers for", title_justify="left", header_style="bold")
    for column in ("target", "class / status", "variants", "deliverable"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def render_console_matrix(report: ReportLike) -> Table | None:
    """The benchmark matrix, compact: one row per cell, one column per variant (samples/s and speed-up)."""
    from rich.table import Table

    matrix = parse_report(report).matrix
    if matrix is None or not matrix.entries:
        return None
    variants = matrix.variants()
    table = Table(title="benchmark matrix: samples/s, speed-up²", title_justify="left", header_style="bold")
    table.add_column("cell")
    for variant in variants:
        table.add_column(variant, justify="right")
    for cell in matrix.cells:
        entries = [matrix.entry(variant, cell.index) for variant in variants]
        table.add_row(
            cell.label,
            *(compact_entry(e, reference=v == matrix.reference) for v, e in zip(variants, entries, strict=True)),
        )
    # Compact: the full notes are in report.md and report.html.
    table.caption = (
        f"² paired speed-up vs {matrix.reference} in the same cell · ~ noisy · samples/s = batch × inferences/s"
    )
    table.caption_style = "dim"
    return table
