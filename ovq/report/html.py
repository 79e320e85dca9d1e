"""report.html: one self-contained page (inline CSS, inline SVG plots, no scripts, no external references)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ovq.benchmarking.targets import EMULATION_NOTE
from ovq.report.cpu_view import cpu_class_line, target_lines
from ovq.report.matrix import HEADERS as MATRIX_HEADERS
from ovq.report.matrix import best_entries, cell_order, matrix_notes, matrix_rows
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
    budget_threshold,
    environment_items,
    fmt_bytes,
    fmt_execution,
    fmt_metric,
    fmt_metric_drop,
    fmt_ms,
    fmt_number,
    fmt_reduction,
    fmt_seconds,
    fmt_speedup,
    metric_headers,
    metric_names,
    metric_value_and_drop,
    null_notes,
    precision_notes,
    stage_items,
    variant_rows,
)
from ovq.report.schema import Report, ReportLike, parse_report

CSS = """
:root { --fg:#1d2125; --muted:#5f6b76; --line:#e3e6ea; --ok:#1a7f37; --bad:#c62828; --warn:#9a6700;
        --accent:#0b5cad; --bg-soft:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.facts { color: var(--muted); margin: 0; }
.facts span + span::before { content: " · "; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; vertical-align: 2px; }
.badge.succeeded { background: var(--ok); } .badge.failed { background: var(--bad); }
.badge.other { background: var(--muted); }
.error { border-left: 4px solid var(--bad); background: #fdecec; padding: 10px 14px; margin: 16px 0;
         border-radius: 4px; }
.error .hint { margin-top: 6px; color: var(--fg); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--bg-soft); font-weight: 600; font-size: 12.5px; }
th:first-child, td:first-child, td.l, th.l { text-align: left; }
tr.deliverable td { background: #eaf4ff; font-weight: 600; }
tr.missed td { color: var(--bad); }
tr.baseline td { color: var(--muted); font-style: italic; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 8px; margin-left: 4px;
       font-style: normal; font-weight: 600; }
.tag.deliverable { background: var(--accent); color: #fff; }
.tag.noisy { background: #fff3c4; color: var(--warn); }
.tag.baseline { background: #eceff1; color: var(--muted); }
.tag.cached { background: #e6f4ea; color: var(--ok); }
.tag.warning { background: #fdecec; color: var(--bad); }
.warnings { border-left: 4px solid var(--warn); background: #fff8e1; padding: 8px 14px; margin: 12px 0;
            border-radius: 4px; }
.warnings ul { margin: 4px 0 0; padding-left: 18px; }
.status-failed { color: var(--bad); font-weight: 600; } .status-skipped { color: var(--muted); }
.better { color: var(--ok); } .worse { color: var(--bad); }
.notes { color: var(--muted); margin: 8px 0 0; padding-left: 18px; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
svg.plot { width: 100%; height: auto; display: block; }
details summary { cursor: pointer; color: var(--accent); margin: 10px 0 6px; }
.scroll { overflow-x: auto; }
table.kv td:first-child { width: 12em; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
code { background: var(--bg-soft); padding: 0 4px; border-radius: 3px; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_classes: Sequence[str] = (),
    align: str = "",
    css_class: str = "",
) -> str:
    """A table of already-escaped HTML cells; `align` is l/r per column (default: right, for numbers)."""

    def attr(index: int) -> str:
        return ' class="l"' if index < len(align) and align[index] == "l" else ""

    head = "".join(f"<th{attr(i)}>{h}</th>" for i, h in enumerate(headers))
    body = []
    for index, cells in enumerate(rows):
        css = row_classes[index] if index < len(row_classes) and row_classes[index] else ""
        row_attr = f' class="{css}"' if css else ""
        body.append(f"<tr{row_attr}>" + "".join(f"<td{attr(i)}>{c}</td>" for i, c in enumerate(cells)) + "</tr>")
    rows_html = "".join(body)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table></div>'


def page(title: str, body: str) -> str:
    """Wrap `body` in a complete HTML document with the report stylesheet."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def header_html(report: Report) -> str:
    status = report.status
    badge = status if status in ("succeeded", "failed") else "other"
    facts = []
    if report.started_at:
        facts.append(f"started {esc(report.started_at)}")
    if report.duration_s is not None:
        facts.append(f"took {esc(fmt_seconds(report.duration_s))}")
    if report.pipeline_file:
        facts.append(f"<code>{esc(report.pipeline_file)}</code>")
    if report.config_digest:
        facts.append(f"config <code>{esc(report.config_digest[:12])}</code>")
    parts = [
        f'<h1>ovq report: {esc(report.pipeline)} <span class="badge {badge}">{esc(status)}</span></h1>',
        '<p class="facts">' + "".join(f"<span>{f}</span>" for f in facts) + "</p>",
    ]
    if (line := cpu_class_line(report)) is not None:
        parts.append(f'<p class="cpu-class">{esc(line)}</p>')
    error = report.error
    if error is not None:
        where = f" in stage <code>{esc(error.stage)}</code>" if error.stage else ""
        parts.append(
            f'<div class="error"><strong>Failed{where}</strong> ({esc(error.type)}): {esc(error.message)}'
            + (f'<div class="hint"><strong>Hint:</strong> {esc(error.hint)}</div>' if error.hint else "")
            + "</div>"
        )
    return "\n".join(parts)


def _tags(row: VariantRow) -> str:
    tags = []
    if row.deliverable:
        tags.append('<span class="tag deliverable">deliverable</span>')
    if row.baseline:
        tags.append('<span class="tag baseline">baseline</span>')
    if row.role == "default_precision":
        tags.append('<span class="tag baseline">plugin default</span>')
    if row.warnings:
        tags.append(f'<span class="tag warning" title="{esc(" | ".join(row.warnings))}">warning</span>')
    if row.noisy:
        spread = f" (spread {row.spread:.0%})" if row.spread is not None else ""
        title = "throughput varied across repeats; rerun on a quieter machine"
        tags.append(f'<span class="tag noisy" title="{title}">noisy{esc(spread)}</span>')
    return "".join(tags)


def _cached_html(text: str, row: VariantRow) -> str:
    """An escaped benchmark cell, tagged "cached" when the row's numbers were replayed from the stage cache."""
    if not row.cached or text == DASH:
        return esc(text)
    return f'{esc(text)} <span class="tag cached" title="replayed from the stage cache">cached</span>'


def _drop_html(drop: float | None) -> str:
    text = esc(fmt_metric_drop(drop))
    if drop is None or abs(drop) < 1e-12:
        return text
    # A positive drop is a loss whatever the metric's direction (the report defines drop that way).
    return f'<span class="{"worse" if drop > 0 else "better"}">{text}</span>'


def variant_table_html(rows: Sequence[VariantRow]) -> str:
    names = metric_names(rows)
    with_default = any(row.speedup_vs_default is not None for row in rows)
    headers = ["Variant", "Precision", "Size", "vs FP32"]
    for value_header, drop_header in metric_headers(names):
        headers += [esc(value_header), esc(drop_header)]
    headers += [
        "Throughput<br>(FPS)",
        "Speed-up<br>vs FP32",
        *(["Speed-up<br>vs default"] if with_default else []),
        "Latency median<br>(ms)",
        "p90",
        "p99",
        "Executed as",
    ]
    body, classes = [], []
    for row in rows:
        cells = [
            esc(row.label) + _tags(row),
            esc(row.precision),
            esc(fmt_bytes(row.size_bytes)),
            esc(fmt_reduction(row)),
        ]
        for metric in names:
            value, drop = metric_value_and_drop(row, metric)
            cells += [esc(fmt_metric(value)), _drop_html(drop)]
        cells += [
            _cached_html(fmt_number(row.throughput_fps), row),
            esc(fmt_speedup(row)),
            *([esc(fmt_speedup(row, "default"))] if with_default else []),
            _cached_html(fmt_ms(row.latency_median_ms), row),
            esc(fmt_ms(row.latency_p90_ms)),
            esc(fmt_ms(row.latency_p99_ms)),
            esc(fmt_execution(row)),
        ]
        body.append(cells)
        classes.append("deliverable" if row.deliverable else "baseline" if row.baseline else "")
    # Text columns left, numbers right; "Executed as" is text.
    align = "ll" + "r" * (len(headers) - 3) + "l"
    return html_table(headers, body, classes, align=align)


def settings_table_html(rows: Sequence[VariantRow]) -> str:
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
        "Spread",
        "First inference (ms)",
        "Compile (ms)",
    ]
    body = [
        [
            esc(row.label),
            esc(row.hint or DASH),
            esc(row.inference_precision or DASH),
            esc(fmt_number(row.num_requests, 0)),
            esc(fmt_number(row.num_streams, 0)),
            esc(fmt_number(row.num_threads, 0)),
            esc(fmt_number(row.count, 0)),
            esc(fmt_seconds(row.duration_s)),
            esc(fmt_number(row.repeats, 0)),
            esc(DASH if row.spread is None else f"{row.spread:.1%}"),
            esc(fmt_ms(row.first_inference_ms)),
            esc(fmt_ms(row.compile_ms)),
        ]
        for row in rows
        if row.throughput_fps is not None
    ]
    return html_table(headers, body, align="lll")


def plots_html(report: Report, rows: Sequence[VariantRow]) -> str:
    from ovq.report.plots import latency_plot_svg, tradeoff_plot_svg

    figures = []
    threshold = budget_threshold(report, rows)
    tradeoff = tradeoff_plot_svg(rows, threshold)
    if tradeoff is not None:
        if any(r.accuracy_value is not None for r in rows):
            caption = "Each point is a variant: up is more accurate, right is faster."
            if threshold is not None:
                worst = "lowest" if rows[0].higher_is_better else "highest"
                caption += f" The dashed line is the {worst} {threshold[0]} the budget accepts ({threshold[1]:.4g})."
        else:
            caption = "No accuracy was measured; bars compare throughput (speed-up vs FP32 after the value)."
        figures.append(f"<figure>{tradeoff}<figcaption>{esc(caption)}</figcaption></figure>")
    latency = latency_plot_svg(rows)
    if latency is not None:
        caption = "Share of inferences finishing within a latency (further left is faster; a long tail bends late)."
        figures.append(f"<figure>{latency}<figcaption>{esc(caption)}</figcaption></figure>")
    if not figures:
        return ""
    return '<h2>Plots</h2>\n<div class="plots">' + "".join(figures) + "</div>"


def matrix_html(report: Report) -> str:
    """The benchmark matrix: a plot of samples/s, the table of every variant in every cell, the notes."""
    from ovq.report.plots import matrix_plot_svg

    matrix = report.matrix
    if matrix is None or not matrix.entries:
        return ""
    parts = ["<h2>Benchmark matrix</h2>"]
    svg = matrix_plot_svg(matrix)
    if svg is not None:
        caption = "Samples per second (batch × inferences/s) of every variant in every cell; higher is faster."
        if any(e.noisy for e in matrix.entries) and len({e.batch for e in matrix.entries}) == 1:
            caption += " Hatched bars are noisy."
        parts.append(f'<div class="plots"><figure>{svg}<figcaption>{esc(caption)}</figcaption></figure></div>')
    classes = ["deliverable" if e.variant == report.deliverable else "" for e in sorted(matrix.entries, key=cell_order)]
    cells = [[esc(c) for c in row] for row in matrix_rows(matrix)]
    parts.append(html_table([esc(h) for h in MATRIX_HEADERS], cells, classes, align="lll"))
    notes = [*matrix_notes(matrix), *best_entries(matrix)]
    parts.append('<ul class="notes">' + "".join(f"<li>{_inline_code(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(parts)


def budget_html(report: Report) -> str:
    """The accuracy budget: its limits, the verdict, and every variant's check."""
    budget = report.budget
    if budget is None:
        return ""
    if budget.met:
        verdict = f'<span class="better">met</span>; deliverable <code>{esc(budget.deliverable)}</code>'
    else:
        verdict = '<span class="worse">missed</span>: no deliverable'
    where = f" on <code>{esc(budget.dataset)}</code>" if budget.dataset else ""
    parts = [
        "<h2>Accuracy budget</h2>",
        f'<p class="budget">Budget{where}: {verdict}.</p>',
        f"<p>{esc(budget.reason)}.</p>" if budget.reason else "",
        '<ul class="notes">' + "".join(f"<li>{esc(line)}</li>" for line in budget_limit_lines(report)) + "</ul>",
    ]
    checks = budget_check_rows(report)
    if checks:
        headers = ["Variant", "Verdict", "Metric", "Value", "FP32", "Drop", "Allowed drop", "Missed by"]
        classes = ["" if row[1] == "met" else "missed" for row in checks]
        cells = [[esc(c) for c in row] for row in checks]
        parts.append(html_table(headers, cells, classes, align="lll"))
    return "\n".join(parts)


def stages_html(report: Report) -> str:
    stages = stage_items(report)
    if not stages:
        return ""
    body = [
        [
            esc(s["name"]),
            f'<span class="status-{esc(s["status"])}">{esc(s["status"])}</span>',
            esc(s["kind"]),
            esc(fmt_seconds(s["duration_s"])),
            '<span class="tag cached">cached</span>' if s["cached"] else "",
        ]
        for s in stages
    ]
    return "<h2>Stages</h2>" + html_table(["Stage", "Status", "Kind", "Duration", "Cache"], body, align="lllrl")


def targets_html(report: Report) -> str:
    rows = target_lines(report)
    if not rows:
        return ""
    body = [[esc(cell) for cell in row] for row in rows]
    return (
        "<h2>Targets</h2>"
        + f'<p class="notes">Capped targets are {esc(EMULATION_NOTE)}.</p>'
        + html_table(["Target", "Class / status", "Variants", "Deliverable"], body, align="llll")
    )


def environment_html(report: Report) -> str:
    items = environment_items(report)
    if not items:
        return ""
    rows = [[esc(k), esc(v)] for k, v in items]
    return "<h2>Environment</h2>" + html_table(["", "Version / value"], rows, align="ll", css_class="kv")


def profile_html(rows: Sequence[VariantRow]) -> str:
    """Where the time goes: one row per profiled variant, each variant's slowest layers folded below."""
    profiled = profiled_rows(rows)
    if not profiled:
        return ""
    cells = [[esc(c) for c in profile_cells(row)] for row in profiled]
    parts = ["<h2>Where the time goes</h2>", html_table(PROFILE_HEADERS, cells, align="lr" + "l" * 6)]
    parts.append(f'<ul class="notes"><li>{esc(PROFILE_NOTE)}</li></ul>')
    for row in profiled:
        layers = [[esc(c) for c in cells] for cells in top_layer_cells(row)]
        parts.append(
            f"<details><summary>{esc(row.label)}: slowest layers</summary>"
            + html_table(TOP_LAYER_HEADERS, layers, align="llll")
            + "</details>"
        )
    return "\n".join(parts)


def render_html(report: ReportLike) -> str:
    """The whole report as one HTML page with inline CSS and SVG plots."""
    report = parse_report(report)
    rows = variant_rows(report)
    sections = [header_html(report)]
    if report.warnings:
        items = "".join(f"<li>⚠ {_inline_code(w)}</li>" for w in report.warnings)
        sections.append(f'<h2>Warnings</h2><ul class="warnings">{items}</ul>')
    sections.append("<h2>Variants</h2>")
    warnings = warning_items(rows)
    if warnings:
        items = "".join(f"<li><strong>{esc(name)}</strong>: {esc(message)}</li>" for name, message in warnings)
        sections.append(f'<div class="warnings"><strong>Variant warnings</strong><ul>{items}</ul></div>')
    if rows:
        sections.append(variant_table_html(rows))
        notes = precision_notes(report, rows)
        if (note := default_speedup_note(rows)) is not None:
            notes.append(note)
        if any(r.baseline for r in rows):
            notes.append(BASELINE_NOTE)
        notes += null_notes(report)
        if any(r.speedup is not None for r in rows):
            notes.append(SPEEDUP_NOTE)
        if any(r.cached for r in rows):
            notes.append(CACHED_NOTE)
        if notes:
            sections.append('<ul class="notes">' + "".join(f"<li>{_inline_code(n)}</li>" for n in notes) + "</ul>")
        sections.append(plots_html(report, rows))
        if any(r.throughput_fps is not None for r in rows):
            sections.append(
                "<details><summary>Benchmark settings per variant</summary>" + settings_table_html(rows) + "</details>"
            )
    else:
        sections.append('<p class="facts">No variants were produced.</p>')
    sections += [
        matrix_html(report),
        profile_html(rows),
        budget_html(report),
        stages_html(report),
        targets_html(report),
        environment_html(report),
    ]
    schema = esc(report.schema_version)
    sections.append(f"<footer>Rendered from report.json (schema_version {schema}) by ovq.</footer>")
    title = f"ovq report: {report.pipeline} ({report.status})"
    return page(title, "\n".join(s for s in sections if s))


def _inline_code(text: str) -> str:
    # Notes are shared with Markdown, where `name` marks code; render those spans as <code>.
    pieces = esc(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))
