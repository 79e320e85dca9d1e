"""Where the time goes and what to worry about: the profile and warning pieces every view renders.

Text only (cells and sentences); console.py, markdown.py and html.py lay them out. Everything comes from
the report's per-variant ``profile`` (ovq.runtime.profile.summarize_profile) and ``warnings`` blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ovq.report.rows import DASH, VariantRow, fmt_ratio

PROFILE_HEADERS = [
    "Variant",
    "Profiled ms / inference",
    "Time by executed precision",
    "Reorder/Convert",
    "Quantized ops in int8",
    "Float fallback",
    "Ops faster than default",
    "Top layer",
]
TOP_LAYER_HEADERS = ["Layer", "Type", "Kernel", "Precision", "ms", "Share"]
PROFILE_NOTE = (
    "Per-layer times come from OpenVINO's performance counters on a short separate run (its own compiled model "
    "with PERF_COUNT, one request, medians over the profiled inferences); they are not the timed benchmark. "
    "Reorder/Convert are the layout and precision conversions the plugin inserts between layers."
)


def _share(entry: Any) -> str:
    return f"{float(entry.get('share') or 0.0):.0%}" if isinstance(entry, Mapping) else DASH


def profiled_rows(rows: Sequence[VariantRow]) -> list[VariantRow]:
    return [row for row in rows if row.profile]


def profile_cells(row: VariantRow) -> list[str]:
    """One row of the "where the time goes" table."""
    profile = row.profile
    by_precision = profile.get("by_precision") or {}
    split = " · ".join(f"{name} {_share(entry)}" for name, entry in list(by_precision.items())[:3]) or DASH
    conversions = profile.get("conversions") or {}
    conversion = DASH
    if conversions.get("count"):
        conversion = f"{_share(conversions)} ({conversions['count']} layers)"
    quantized = profile.get("quantized") or {}
    operations = int(quantized.get("operations") or 0)
    in_int8 = f"{quantized.get('int8_executed', 0)} / {operations}" if operations else DASH
    fallback = quantized.get("fallback") or {}
    fallback_text = f"{fallback['count']} ({_share(fallback)})" if operations and fallback.get("count") else DASH
    if operations and not fallback.get("count"):
        fallback_text = "none"
    versus = quantized.get("vs_default") or {}
    faster = f"{versus['faster']} / {versus['compared']}" if versus.get("compared") else DASH
    top = (profile.get("top_layers") or [None])[0]
    top_text = f"{top['name']} ({top['type']}, {top['precision']}, {_share(top)})" if top else DASH
    total = profile.get("total_ms")
    return [
        row.label,
        f"{float(total):.3f}" if total is not None else DASH,
        split,
        conversion,
        in_int8,
        fallback_text,
        faster,
        top_text,
    ]


def top_layer_cells(row: VariantRow, count: int = 5) -> list[list[str]]:
    """The variant's slowest layers: name, type, kernel, precision, ms, share."""
    return [
        [
            str(layer.get("name")),
            str(layer.get("type")),
            str(layer.get("exec_type")),
            str(layer.get("precision")),
            f"{float(layer.get('ms') or 0.0):.3f}",
            _share(layer),
        ]
        for layer in (row.profile.get("top_layers") or [])[:count]
    ]


def warning_items(rows: Sequence[VariantRow]) -> list[tuple[str, str]]:
    """(variant, sentence) for every warning of every variant, in table order."""
    return [(row.label, message) for row in rows for message in row.warnings]


def console_lines(rows: Sequence[VariantRow]) -> list[str]:
    """The short console version: one "where the time goes" line per profiled variant, then the warnings."""
    from ovq.runtime.profile import time_split_line

    lines = [f"{row.label}: {time_split_line(row.profile)}" for row in profiled_rows(rows)]
    if lines:
        lines.insert(0, "where the time goes (per-layer profile):")
    lines += [f"warning: {message}" for _, message in warning_items(rows)]
    return lines


def default_speedup_note(rows: Sequence[VariantRow]) -> str | None:
    """Which variant the "vs default" column is relative to."""
    default = next((row for row in rows if row.role == "default_precision"), None)
    if default is None or not any(row.speedup_vs_default is not None for row in rows):
        return None
    precision = f" ({default.inference_precision})" if default.inference_precision else ""
    return (
        f'"vs default" is the paired speed-up against `{default.name}`, the FP32 model at the plugin\'s default '
        f"inference precision{precision}: a compressed variant must beat it to be worth shipping."
    )


def fmt_vs_default(row: VariantRow) -> str:
    return fmt_ratio(row.speedup_vs_default)


def profile_summary_lines(summary: Mapping[str, Any], top: int = 5) -> list[str]:
    """`ovq benchmark --profile`'s closing lines: where the time goes, the slowest layers, likely reasons."""
    from ovq.runtime.profile import likely_reasons, time_split_line

    lines = [
        f"Profile ({summary.get('iterations')} inferences, one request, PERF_COUNT on its own compiled model):",
        f"   {float(summary.get('total_ms') or 0.0):.3f} ms summed over {summary.get('executed_layers')} layers"
        f" | {time_split_line(summary)}",
    ]
    for layer in (summary.get("top_layers") or [])[:top]:
        lines.append(
            f"   {float(layer['share']):>4.0%} {float(layer['ms']):8.3f} ms  {layer['name']}"
            f"  [{layer['type']}, {layer['exec_type']}, {layer['precision']}]"
        )
    quantized = summary.get("quantized") or {}
    if quantized.get("operations"):
        fallback = quantized.get("fallback") or {}
        lines.append(
            f"   quantized operations: {quantized.get('int8_executed')} of {quantized['operations']} ran int8;"
            f" {fallback.get('count', 0)} fell back to float ({_share(fallback)} of time)"
        )
    lines += [f"   look at: {reason}" for reason in likely_reasons(summary, generic=False)]
    return lines
