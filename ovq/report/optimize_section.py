"""The optimize stage's story in the Markdown report: the choice and its reason, every candidate, the front."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ovq.report.schema import ReportLike

from collections.abc import Mapping, Sequence
from typing import Any


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def optimize_lines(report: ReportLike) -> list[str]:
    """Markdown lines for every optimize stage of the report (none when there is none)."""
    from ovq.report.schema import Report

    if isinstance(report, Report):
        records = [(stage.name, stage.details or {}) for stage in report.stages]
    else:  # a report document (possibly partial: the optimize CLI renders its own story)
        records = [
            (str(stage.get("name", "optimize")), stage.get("details") or {})
            for stage in report.get("stages") or []
            if isinstance(stage, Mapping)
        ]
    lines: list[str] = []
    for name, details in records:
        story = details.get("optimize") if isinstance(details, Mapping) else None
        if not isinstance(story, Mapping):
            continue
        lines += [f"## Search: {name}", ""]
        lines += [f"Chosen: **{story.get('variant')} @ {story.get('setting_label')}**. {story.get('reason', '')}", ""]
        if story.get("sla"):
            lines += [f"Latency SLA: {story['sla']}", ""]
        candidates = [c for c in story.get("candidates") or [] if isinstance(c, Mapping)]
        rows = [
            [c.get("name"), c.get("status"), ", ".join(f"{k} {v:.4f}" for k, v in (c.get("values") or {}).items()),
             c.get("compute_int8_share"), c.get("throughput_fps"), c.get("build_s"), c.get("reason")]
            for c in candidates
        ]  # fmt: skip
        lines += _table(["Candidate", "Status", "Accuracy", "INT8 share", "Throughput /s", "Build s", "Why"], rows)
        front = [e for e in story.get("front") or [] if isinstance(e, Mapping)]
        rows = [
            [e.get("variant"), ", ".join(f"{k}={v}" for k, v in (e.get("setting") or {}).items() if v is not None),
             e.get("throughput_fps"), e.get("latency_median_ms"), e.get("sla_latency_ms"), e.get("holds_budget"),
             e.get("holds_sla"), _versus(e.get("vs_fastest")), e.get("note")]
            for e in front
        ]  # fmt: skip
        lines += ["", "Measured front (interleaved; vs fastest: paired ratio with its 95% interval):", ""]
        headers = ["Variant", "Setting", "Throughput /s", "Median ms", "SLA ms", "Budget", "SLA", "vs fastest", "Note"]
        lines += _table(headers, rows)
        if story.get("plot"):
            lines += ["", f"Plot: `{story['plot']}`"]
        lines.append("")
    return lines


def _versus(comparison: Any) -> str | None:
    """`0.98× [0.94, 1.01] tie` from a stored comparison (protocol.SpeedComparison.to_dict); None: none."""
    if not isinstance(comparison, Mapping) or comparison.get("ratio") is None:
        return None
    verdict = str(comparison.get("verdict"))
    return f"{comparison['ratio']:.2f}× [{comparison['low']:.2f}, {comparison['high']:.2f}] {verdict}"
