"""Trend plots: a pipeline's accuracy and throughput over its recorded runs, one line per variant.

matplotlib is imported inside `render_trend`, and only its object API is used (no pyplot), so the
plot needs no display, touches no global backend state and keeps `ovq --help` fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ovq.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from ovq.nightly.history import HistoryStore, SeriesPoint

PLOT_FORMATS = (".svg", ".png")
# The two panels: (history metric, axis label).
PANELS: tuple[tuple[str, str], ...] = (("accuracy", "accuracy"), ("throughput_fps", "throughput (FPS)"))


@dataclass(frozen=True)
class TrendData:
    """What a trend plot shows: per panel metric, per variant, the points oldest first."""

    pipeline: str
    series: Mapping[str, Mapping[str, Sequence[SeriesPoint]]]

    @property
    def point_count(self) -> int:
        """How many points the plot will draw in all."""
        return sum(len(points) for by_variant in self.series.values() for points in by_variant.values())


def trend_data(
    history: HistoryStore, pipeline: str, *, variants: Sequence[str] | None = None, last: int | None = None
) -> TrendData:
    """Read a pipeline's accuracy and throughput series from the history (``last`` runs at most)."""
    names = list(variants) if variants is not None else history.variants(pipeline)
    series: dict[str, dict[str, Sequence[SeriesPoint]]] = {}
    for metric, _label in PANELS:
        by_variant: dict[str, Sequence[SeriesPoint]] = {}
        for name in names:
            points = history.series(pipeline, name, metric)
            if last is not None:
                points = points[-last:]
            if points:
                by_variant[name] = points
        series[metric] = by_variant
    return TrendData(pipeline=pipeline, series=series)


def plot_trend(
    history: HistoryStore,
    pipeline: str,
    out_path: str | Path,
    *,
    variants: Sequence[str] | None = None,
    last: int | None = None,
) -> Path:
    """Write the trend plot of ``pipeline`` to ``out_path`` (.svg or .png) and return the path."""
    return render_trend(trend_data(history, pipeline, variants=variants, last=last), out_path)


def render_trend(data: TrendData, out_path: str | Path) -> Path:
    """Draw ``data`` into an SVG or PNG file, written atomically (a reader never sees half a file).

    Runs whose nightly gates failed, or that failed, are marked with a red cross, so the day a
    metric moved stands out.
    """
    path = Path(out_path)
    suffix = path.suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise ConfigError(f"a trend plot is written as SVG or PNG, not {path.name!r}", hint="name it *.svg or *.png")
    try:
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DependencyError(
            "trend plots need matplotlib", hint="pip install matplotlib (it is an ovq dependency)"
        ) from exc

    figure = Figure(figsize=(8.0, 5.5), layout="constrained")
    axes = figure.subplots(len(PANELS), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (metric, label) in zip(axes, PANELS, strict=True):
        by_variant = data.series.get(metric, {})
        crosses_labelled = False
        for variant, points in by_variant.items():
            times = [_time(point.started_at) for point in points]
            values = [point.value for point in points]
            (line,) = ax.plot(times, values, marker="o", markersize=3.5, linewidth=1.4, label=variant)
            bad = [(t, p.value) for t, p in zip(times, points, strict=True) if _is_bad(p)]
            if bad:
                ax.scatter(
                    [t for t, _ in bad],
                    [v for _, v in bad],
                    marker="x",
                    s=60,
                    color="#d62728",
                    zorder=3,
                    label=None if crosses_labelled else "failed run or gate",
                )
                crosses_labelled = True
            line.set_gid(f"{metric}-{variant}")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if by_variant:
            ax.legend(loc="best", fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no {label} recorded yet", transform=ax.transAxes, ha="center", va="center")
    # matplotlib ships these two without annotations.
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel("run started (UTC)")
    figure.suptitle(f"{data.pipeline}: accuracy and throughput over recorded runs")

    from ovq.runtime.artifacts import atomic_path

    with atomic_path(path, suffix=suffix) as temporary:
        figure.savefig(temporary, format=suffix[1:], dpi=110)
    return path


def _time(started_at: str) -> datetime:
    # matplotlib draws timezone-aware datetimes; drop the zone so the axis reads in UTC as stored.
    return datetime.fromisoformat(started_at).replace(tzinfo=None)


def _is_bad(point: SeriesPoint) -> bool:
    return point.status != "succeeded" or point.gate_status == "failed"
