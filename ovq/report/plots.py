"""The report's plots as inline SVG strings (matplotlib, imported lazily, no pyplot and no display).

Three plots; the first two drawn from the per-variant rows of ovq.report.rows:

- latency distribution: the cumulative distribution of per-inference latency for every benchmarked variant,
  from its ``latency_percentiles_ms`` (101 values, percentile 0..100);
- accuracy vs throughput: the trade-off a user is choosing along, with the deliverable marked and the
  budget's acceptable-accuracy line when the report has one. Variants without accuracy (e.g. baselines)
  appear as labelled vertical lines at their throughput; with no accuracy at all it falls back to a
  throughput bar chart;
- the benchmark matrix: samples/s (and latency) against batch size per variant, or grouped bars per cell.

The SVG is cleaned for inlining into HTML: no XML prolog, DOCTYPE, metadata or namespace URLs, so the page
holds no external references at all.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ovq.report.matrix import variant_series
from ovq.report.rows import VariantRow, fmt_ms
from ovq.report.schema import Matrix, MatrixCellReport, MatrixEntryReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
BASELINE_COLOR = "#8a8a8a"
_NAMESPACE = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def variant_colors(rows: Sequence[VariantRow]) -> dict[str, str]:
    """One stable colour per variant (baselines in shades of grey-ish palette tail), shared by both plots."""
    colors: dict[str, str] = {}
    own = [r for r in rows if not r.baseline]
    others = [r for r in rows if r.baseline]
    for index, row in enumerate(own):
        colors[row.name] = PALETTE[index % 5]
    for index, row in enumerate(others):
        colors[row.name] = PALETTE[5 + index % 4]
    return colors


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure


def _style(ax: Axes) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def figure_to_svg(figure: Figure, salt: str) -> str:
    """Serialise `figure` as SVG markup ready to inline in HTML (no prolog, metadata or URLs)."""
    import matplotlib

    buffer = io.StringIO()
    # A per-plot salt keeps element ids (clip paths, markers) unique when several SVGs share one page;
    # text stays text (fonttype none) so the page is small and searchable.
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = _NAMESPACE.sub("", svg)
    # HTML's parser gives inline <svg> its namespace, so the attribute URLs are unnecessary; keep a size
    # that scales with the page.
    svg = re.sub(r'<svg\s+width="([\d.]+)pt"\s+height="([\d.]+)pt"', r'<svg class="plot"', svg, count=1)
    return svg


def latency_plot_svg(rows: Sequence[VariantRow]) -> str | None:
    """Cumulative latency distribution per benchmarked variant, or None when no variant has percentiles."""
    plotted = [r for r in rows if len(r.latency_percentiles_ms) >= 2]
    if not plotted:
        return None
    colors = variant_colors(rows)
    figure = _figure(5.8, 3.4 + 0.16 * len(plotted))
    ax = figure.subplots()
    _style(ax)
    low = min(min(r.latency_percentiles_ms) for r in plotted)
    high = max(max(r.latency_percentiles_ms) for r in plotted)
    for row in plotted:
        values = row.latency_percentiles_ms
        percents = [100.0 * i / (len(values) - 1) for i in range(len(values))]
        ax.step(
            values,
            percents,
            where="post",
            color=colors[row.name],
            linestyle="--" if row.baseline else "-",
            linewidth=2.2 if row.deliverable else 1.6,
            label=f"{row.label}  (median {fmt_ms(row.latency_median_ms)} ms)",
        )
    if low > 0 and high / low > 20:
        ax.set_xscale("log")
    ax.set_xlabel("latency per inference (ms)")
    ax.set_ylabel("percentile of inferences")
    ax.set_ylim(0, 100.5)
    ax.set_yticks([0, 25, 50, 75, 90, 99])
    ax.set_title("Latency distribution", loc="left", fontsize=11)
    # Below the axes: inside, it would hide the tails that the plot is there to show.
    figure.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return figure_to_svg(figure, "latency")


def tradeoff_plot_svg(rows: Sequence[VariantRow], threshold: tuple[str | None, float] | None = None) -> str | None:
    """Accuracy vs throughput scatter (or a throughput bar chart without accuracy); None without numbers."""
    benchmarked = [r for r in rows if r.throughput_fps is not None]
    if not benchmarked:
        return None
    with_accuracy = [r for r in benchmarked if r.accuracy_value is not None]
    if not with_accuracy:
        return _throughput_bars_svg(benchmarked, variant_colors(rows))
    colors = variant_colors(rows)
    figure = _figure(5.8, 4.0)
    ax = figure.subplots()
    _style(ax)
    metric = next((r.accuracy_metric for r in with_accuracy if r.accuracy_metric), "accuracy")
    for index, row in enumerate(with_accuracy):
        ax.scatter(
            [float(row.throughput_fps or 0.0)],
            [float(row.accuracy_value or 0.0)],
            s=160 if row.deliverable else 60,
            marker="*" if row.deliverable else ("s" if row.baseline else "o"),
            color=colors[row.name],
            zorder=3,
            edgecolors="black" if row.deliverable else "none",
        )
        ax.annotate(
            row.label + ("  (deliverable)" if row.deliverable else ""),
            (float(row.throughput_fps or 0.0), float(row.accuracy_value or 0.0)),
            textcoords="offset points",
            # Alternate above/below: variants of near-equal speed and accuracy would print labels on top
            # of each other.
            xytext=(7, 5 if index % 2 == 0 else -12),
            fontsize=8,
        )
    for row in benchmarked:
        if row.accuracy_value is None:
            ax.axvline(float(row.throughput_fps or 0.0), color=colors[row.name], linestyle=":", linewidth=1.2)
            ax.annotate(
                f"{row.label} (no accuracy)",
                (float(row.throughput_fps or 0.0), 0.02),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=7,
                color="#555555",
                xytext=(3, 0),
                textcoords="offset points",
            )
    if threshold is not None:
        ax.axhline(threshold[1], color="#b22222", linestyle="--", linewidth=1)
        ax.annotate(
            f"budget: {threshold[1]:.4g}",
            (0.01, threshold[1]),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="#b22222",
        )
    fps = [float(r.throughput_fps or 0.0) for r in benchmarked]
    if min(fps) > 0 and max(fps) / min(fps) > 10:
        ax.set_xscale("log")
        ax.set_xlim(min(fps) / 1.5, max(fps) * 2.0)
    else:
        # From zero: on a zoomed axis two variants 2% apart would look worlds apart.
        ax.set_xlim(0, max(fps) * 1.25 if max(fps) > 0 else 1.0)
    _pad_y(ax, [float(r.accuracy_value or 0.0) for r in with_accuracy] + ([threshold[1]] if threshold else []))
    ax.set_xlabel("throughput (inferences per second) →  faster")
    better = "higher" if with_accuracy[0].higher_is_better else "lower"
    ax.set_ylabel(f"{metric} ({better} is better)")
    ax.set_title("Accuracy vs throughput", loc="left", fontsize=11)
    return figure_to_svg(figure, "tradeoff")


def _pad_y(ax: Axes, values: list[float]) -> None:
    low, high = min(values), max(values)
    margin = (high - low) * 0.25 or max(abs(high) * 0.01, 1e-3)
    ax.set_ylim(low - margin, high + margin)


def _throughput_bars_svg(rows: Sequence[VariantRow], colors: dict[str, Any]) -> str:
    figure = _figure(5.8, 1.1 + 0.4 * len(rows))
    ax = figure.subplots()
    _style(ax)
    ax.grid(False, axis="y")
    labels = [r.label for r in rows]
    values = [float(r.throughput_fps or 0.0) for r in rows]
    bars = ax.barh(labels, values, color=[colors[r.name] for r in rows], height=0.6)
    for bar, row in zip(bars, rows, strict=True):
        if row.baseline:
            bar.set_hatch("//")
            bar.set_alpha(0.75)
        speedup = f"  {row.speedup:.2f}×" if row.speedup is not None else ""
        ax.annotate(
            f"{row.throughput_fps:,.1f} FPS{speedup}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.3 if max(values) > 0 else 1)
    ax.set_xlabel("throughput (inferences per second)")
    ax.set_title("Throughput (no accuracy measured)", loc="left", fontsize=11)
    return figure_to_svg(figure, "throughput")


def matrix_plot_svg(matrix: Matrix) -> str | None:
    """Samples/s of every variant in every cell: against batch size when batch varies, else grouped bars."""
    series = variant_series(matrix)
    cells = {cell.index: cell for cell in matrix.cells}
    batches = {entry.batch for entry in matrix.entries}
    if not matrix.entries or any(entry.samples_per_s is None for entry in matrix.entries):
        return None
    colors = {variant: PALETTE[index % len(PALETTE)] for index, variant in enumerate(series)}
    if len(batches) > 1:
        return _matrix_batch_lines(matrix, series, cells, colors)
    figure = _figure(5.8, 1.4 + 0.45 * len(matrix.cells) * max(1, len(series)) ** 0.5)
    ax = figure.subplots()
    _style(ax)
    ax.grid(False, axis="y")
    height = 0.8 / len(series)
    for offset, (variant, entries) in enumerate(series.items()):
        positions = [entry.cell + offset * height for entry in entries]
        bars = ax.barh(positions, [float(e.samples_per_s or 0.0) for e in entries], height=height * 0.9,
                       color=colors[variant], label=variant)  # fmt: skip
        for bar, entry in zip(bars, entries, strict=True):
            if entry.noisy:
                bar.set_hatch("//")
    centres = [index + (len(series) - 1) * height / 2 for index in cells]
    ax.set_yticks(centres, [cells[index].label for index in cells], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("samples per second (batch × inferences/s)")
    ax.set_title("Benchmark matrix", loc="left", fontsize=11)
    figure.legend(loc="outside lower center", ncols=min(4, len(series)), fontsize=8, frameon=False)
    return figure_to_svg(figure, "matrix")


def _matrix_batch_lines(
    matrix: Matrix,
    series: dict[str, Sequence[MatrixEntryReport]],
    cells: dict[int, MatrixCellReport],
    colors: dict[str, str],
) -> str:
    figure = _figure(8.6, 3.8)
    throughput_ax, latency_ax = figure.subplots(1, 2)
    groups = list(dict.fromkeys(_settings_without_batch(cells[e.cell]) for e in matrix.entries))
    styles = ["-", "--", ":", "-."]
    for ax in (throughput_ax, latency_ax):
        _style(ax)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
    for variant, entries in series.items():
        for number, group in enumerate(groups):
            line = sorted(
                (e for e in entries if _settings_without_batch(cells[e.cell]) == group), key=lambda e: e.batch
            )
            if not line:
                continue
            batches = [e.batch for e in line]
            label = variant if len(groups) == 1 else f"{variant} · {group}"
            style = {"color": colors[variant], "linestyle": styles[number % len(styles)], "marker": "o"}
            throughput_ax.plot(batches, [float(e.samples_per_s or 0.0) for e in line], label=label, **style)
            latency_ax.plot(batches, [float(e.latency_ms.median or 0.0) for e in line], **style)
    throughput_ax.set_ylabel("samples per second")
    throughput_ax.set_title("Throughput vs batch", loc="left", fontsize=11)
    latency_ax.set_ylabel("median latency per call (ms)")
    latency_ax.set_title("Latency vs batch", loc="left", fontsize=11)
    batches = sorted({e.batch for e in matrix.entries})
    for ax in (throughput_ax, latency_ax):
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_ylim(bottom=0)
    figure.legend(loc="outside lower center", ncols=min(3, len(series) * len(groups)), fontsize=8, frameon=False)
    return figure_to_svg(figure, "matrix")


def _settings_without_batch(cell: MatrixCellReport) -> str:
    """A cell's label without its batch: the cells one line of the batch plot joins."""
    return " · ".join(part for part in cell.label.split(" · ") if not part.startswith("batch "))
