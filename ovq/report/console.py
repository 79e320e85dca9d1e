"""The comparison table the CLI prints (rich), rendered from report.json alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.report.profile_view import console_lines
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
        if metric is not None:
            cells += [fmt_metric(row.accuracy_value), fmt_drop(row)]
        cells += [
            fmt_number(row.throughput_fps),
            fmt_ratio(row.speedup),
            *([fmt_ratio(row.speedup_vs_default)] if with_default else []),
            fmt_latency_triplet(row),
            fmt_execution(row),
            ", ".join(n for n in row_notes(row) if n != "deliverable"),
        ]
        table.add_row(*cells, style="dim" if row.baseline else None)
    error = _dict(report.get("error"))
    if error:
        table.caption = f"failed in {error.get('stage') or '?'}: {error.get('message', '')}"
        table.caption_style = "red"
    else:
        extra = console_lines(rows)
        if extra:
            # Where the time goes and the warnings, under the table (the CLI prints the table alone).
            table.caption = "\n".join(extra)
            table.caption_justify = "left"
            table.caption_style = "yellow" if any(r.warnings for r in rows) else "dim"
    return table
