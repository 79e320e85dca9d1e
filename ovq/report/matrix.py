"""The benchmark matrix: rows and notes shared by every view (console, report.md, report.html)."""

from __future__ import annotations

from collections.abc import Sequence

from ovq.report.rows import DASH, fmt_compared, fmt_ms, fmt_number, fmt_ratio
from ovq.report.schema import Matrix, MatrixEntryReport

MATRIX_NOTE = (
    "samples/s = batch × inferences/s (at batch 1 they are equal); a tiny model is bound by per-call overhead at"
    " batch 1, so compare batch sizes in samples/s. Latency is per inference call, i.e. per whole batch."
)
MATRIX_SPEEDUP_NOTE = (
    "Speed-up: the median of paired per-repeat throughput ratios against {reference} in the same cell"
    " (cells and variants were measured interleaved), with its 95% interval; *tie* when the interval lies within"
    " ±5%, *undecided* when it is too wide to tell (treated as a tie), `= X` for the same compiled model as X."
)
HEADERS = (
    "Cell", "Variant", "Hint", "Batch", "Streams", "Requests", "Samples/s", "Inferences/s",
    "Latency ms (median / p90 / p99)", "Speed-up", "Notes",
)  # fmt: skip


def matrix_rows(matrix: Matrix) -> list[list[str]]:
    """One row of formatted cells per variant and cell, cell by cell (HEADERS order)."""
    labels = {cell.index: cell.label for cell in matrix.cells}
    rows = []
    for entry in sorted(matrix.entries, key=cell_order):
        rows.append(
            [
                labels.get(entry.cell, str(entry.cell)),
                entry.variant,
                entry.hint or DASH,
                str(entry.batch),
                fmt_number(entry.num_streams, 0),
                fmt_number(entry.num_requests, 0),
                fmt_number(entry.samples_per_s),
                fmt_number(entry.inferences_per_s),
                fmt_latency(entry),
                fmt_compared(entry.speedup_vs_reference, entry.vs_reference, entry.variant),
                ", ".join(entry_notes(entry)) or DASH,
            ]
        )
    return rows


def fmt_latency(entry: MatrixEntryReport) -> str:
    latency = entry.latency_ms
    if latency.median is None:
        return DASH
    return " / ".join(fmt_ms(value) for value in (latency.median, latency.p90, latency.p99))


def entry_notes(entry: MatrixEntryReport) -> list[str]:
    notes = []
    if entry.noisy:
        notes.append(f"noisy ({entry.spread:.0%} spread)" if entry.spread is not None else "noisy")
    if entry.inputs == "dataset":
        notes.append("dataset inputs")
    return notes


def matrix_notes(matrix: Matrix) -> list[str]:
    limit = f"{matrix.iterations} iterations" if matrix.iterations else f"{matrix.duration_s:g} s"
    notes = [
        f"{len(matrix.cells)} cell(s) × {len(matrix.variants())} variant(s), {limit} each, {matrix.repeats} repeat(s)"
        f" ({matrix.api} api).",
        MATRIX_NOTE,
        MATRIX_SPEEDUP_NOTE.format(reference=f"`{matrix.reference}`"),
    ]
    if any(entry.noisy for entry in matrix.entries):
        notes.append("*noisy*: the throughput varied a lot across repeats; rerun on a quieter machine.")
    return notes


def best_entries(matrix: Matrix) -> list[str]:
    """One line per variant: the cell where it gets through the most samples per second."""
    lines = []
    labels = {cell.index: cell.label for cell in matrix.cells}
    for variant in matrix.variants():
        measured = [e for e in matrix.entries if e.variant == variant and e.samples_per_s is not None]
        if measured:
            best = max(measured, key=lambda e: float(e.samples_per_s or 0.0))
            lines.append(
                f"`{variant}`: most samples/s in {labels.get(best.cell, best.cell)} ({best.samples_per_s:,.1f})"
            )
    return lines


def compact_entry(entry: MatrixEntryReport | None, *, reference: bool) -> str:
    """`1,234.5 1.80× ~`: samples/s, the speed-up (not for the reference itself), `~` when noisy.

    The speed-up is followed by `tie` or `?` (undecided) when its interval does not clear the margin, and is
    `=` for the same compiled model as the reference.
    """
    if entry is None or entry.samples_per_s is None:
        return DASH
    text = fmt_number(entry.samples_per_s)
    comparison = entry.vs_reference
    if not reference and comparison is not None and comparison.verdict == "identical":
        text += " ="
    elif not reference and entry.speedup_vs_reference is not None:
        text += f" {fmt_ratio(entry.speedup_vs_reference)}"
        text += {"tie": " tie", "undecided": " ?"}.get(comparison.verdict if comparison else "", "")
    return text + (" ~" if entry.noisy else "")


def cell_order(entry: MatrixEntryReport) -> int:
    return entry.cell


def variant_series(matrix: Matrix) -> dict[str, Sequence[MatrixEntryReport]]:
    """Entries by variant, in cell order (what the plot draws)."""
    return {v: sorted((e for e in matrix.entries if e.variant == v), key=cell_order) for v in matrix.variants()}
