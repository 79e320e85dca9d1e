"""The optimize stage's measured front as an SVG: throughput of every measured point, marked by what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def front_svg(story: dict[str, Any]) -> str | None:
    """Throughput (x) of every measured (variant, setting); held budget+SLA filled, missed hollow; chosen starred.

    ``story`` is ``OptimizeResult.to_dict()``. None when nothing was measured.
    """
    from ovq.report.plots import _figure, _style, figure_to_svg

    entries = [e for e in story.get("front", []) if e.get("throughput_fps")]
    if not entries:
        return None
    figure = _figure(6.4, 0.45 * len(entries) + 1.2)
    ax = figure.add_subplot()
    _style(ax)
    chosen = (story.get("variant"), story.get("setting_label"))
    labels = []
    for row, entry in enumerate(entries):
        from ovq.search.settings import RuntimeSetting

        setting = RuntimeSetting(**entry["setting"]).label
        holds = entry["holds_budget"] and entry.get("holds_sla") is not False
        is_chosen = (entry["variant"], setting) == chosen and entry.get("note") != "screening measurement"
        ax.barh(row, entry["throughput_fps"], color="#2ca02c" if holds else "#ffffff",
                edgecolor="#2ca02c" if holds else "#d62728", hatch=None if holds else "//")  # fmt: skip
        sla = f", p-lat {entry['sla_latency_ms']:.1f} ms" if entry.get("sla_latency_ms") is not None else ""
        labels.append(f"{'* ' if is_chosen else ''}{entry['variant']} @ {setting}{sla}")
    ax.set_yticks(range(len(entries)), labels, fontsize=7)
    ax.set_xlabel("throughput (samples/s); hollow = misses budget or SLA; * = chosen")
    ax.invert_yaxis()
    return figure_to_svg(figure, "front")


def write_front_svg(story: dict[str, Any], path: Path) -> str | None:
    """Write :func:`front_svg` to ``path``; returns the path written (None when there is nothing to draw)."""
    svg = front_svg(story)
    if svg is None:
        return None
    path.write_text(svg, encoding="utf-8")
    return str(path)
