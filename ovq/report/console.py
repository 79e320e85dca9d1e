"""The comparison table the CLI prints (rich), rendered from report.json alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.report.rows import (
    Report,
    _dict,
    accuracy_metric,
    fmt_bytes,
    fmt_drop,
    fmt_execution,
    fmt_latency_triplet,
    fmt_metric,
    fmt_number,
    fmt_ratio,
    fmt_reduction,
    row_notes,
    variant_rows,
)

if TYPE_CHECKING:
    from rich.table import Table


def render_console_table(report: Report) -> Table:
    """The final comparison table the CLI prints (rich), one row per variant."""
    from rich.table import Table

    rows = variant_rows(report)
    metric = accuracy_metric(rows)
    status = str(report.get("status", "?"))
    title = f"{report.get('pipeline', 'run')} — {status}"
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("variant", style="bold")
    table.add_column("precision")
    table.add_column("size", justify="right")
    table.add_column("vs fp32", justify="right")
    if metric is not None:
        table.add_column(metric, justify="right")
        table.add_column("drop", justify="right")
    table.add_column("FPS", justify="right")
    table.add_column("speed-up", justify="right")
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
        if metric is not None:
            cells += [fmt_metric(row.accuracy_value), fmt_drop(row)]
        cells += [
            fmt_number(row.throughput_fps),
            fmt_ratio(row.speedup),
            fmt_latency_triplet(row),
            fmt_execution(row),
            ", ".join(n for n in row_notes(row) if n != "deliverable"),
        ]
        table.add_row(*cells, style="dim" if row.baseline else None)
    warnings = [str(w) for w in report.get("warnings") or []]
    if warnings:
        table.caption = "\n".join(f"warning: {w}" for w in warnings)
        table.caption_style = "yellow"
    error = _dict(report.get("error"))
    if error:
        table.caption = f"failed in {error.get('stage') or '?'}: {error.get('message', '')}"
        table.caption_style = "red"
    return table
