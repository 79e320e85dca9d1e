"""Honest warnings: a compressed variant slower than the default precision or than FP32, or larger than FP32.

Speed is judged on paired ratios: repeat ``i`` of two variants was measured back to back by the interleaved
benchmark, so ``throughput_fps_runs[i] / other.throughput_fps_runs[i]`` cancels slow machine drift. A
variant is *slower beyond noise* when the bootstrap interval of the median paired ratio lies wholly below
``1 - margin`` (:mod:`ovq.benchmarking.protocol`): a noisy measurement has a wide interval and so needs a
larger, consistent difference. Each warning carries the likely reason read from the variant's profile
(:func:`ovq.runtime.profile.likely_reasons`).

Warnings are plain dicts (``kind``, ``message`` and the numbers behind it), stored in report.json per
variant, so the console, report.md and report.html all show the same sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ovq.benchmarking.protocol import MARGIN, SpeedComparison, compare_ratios, identical

#: A variant must be this much slower (its interval below 1 - margin) before it is called slower.
NOISE_MARGIN = MARGIN
#: A variant whose IR is larger than FP32's by more than this fraction gets a size warning.
SIZE_MARGIN = 0.005


def paired_ratios(variant: Mapping[str, Any], other: Mapping[str, Any]) -> list[float]:
    """Per-repeat throughput ratios ``variant / other`` from two benchmark blocks (``throughput_fps_runs``)."""
    ours = [float(x) for x in variant.get("throughput_fps_runs") or [variant.get("throughput_fps") or 0.0]]
    theirs = [float(x) for x in other.get("throughput_fps_runs") or [other.get("throughput_fps") or 0.0]]
    return [a / b for a, b in zip(ours, theirs, strict=False) if a > 0 and b > 0]


def slower_beyond_noise(ratios: Sequence[float], *, margin: float = NOISE_MARGIN) -> bool:
    """True when the paired ratios' interval says "slower" beyond the margin (no ratios: never)."""
    return bool(ratios) and compare_ratios(ratios, margin=margin).verdict == "slower"


def comparison_of(
    variant: Mapping[str, Any], other: Mapping[str, Any], *, versus: str | None = None
) -> SpeedComparison:
    """The paired verdict of two benchmark blocks; "identical" when both compile to the same thing.

    ``compiled_digest`` (set by the benchmark stage) digests the IR's bytes with the resolved compile
    settings and inference precision: equal digests were measured once and are never ranked.
    """
    digest = variant.get("compiled_digest")
    if digest and digest == other.get("compiled_digest"):
        return identical(versus)
    return compare_ratios(paired_ratios(variant, other), versus=versus)


def speed_warning(
    name: str,
    benchmark: Mapping[str, Any],
    other_name: str,
    other_benchmark: Mapping[str, Any],
    *,
    kind: str,
    other_label: str,
    reasons: Sequence[str] = (),
) -> dict[str, Any] | None:
    """A warning when ``name`` is slower than ``other_name`` beyond noise, else None."""
    ratios = paired_ratios(benchmark, other_benchmark)
    noisy = bool(benchmark.get("noisy")) or bool(other_benchmark.get("noisy"))
    comparison = comparison_of(benchmark, other_benchmark, versus=other_name)
    if comparison.verdict != "slower":
        return None
    ratio = comparison.ratio
    message = (
        f"{name} is slower than {other_name} ({other_label}): {ratio:.2f}× its throughput"
        f" [{comparison.low:.2f}, {comparison.high:.2f}]"
    )
    if noisy:
        message += " (noisy measurement; the interval still clears the margin)"
    if reasons:
        message += "; likely: " + "; ".join(reasons)
    return {
        "kind": kind,
        "message": message,
        "versus": other_name,
        "ratio": round(ratio, 4),
        "paired_ratios": [round(r, 4) for r in ratios],
        "interval": [round(comparison.low, 4), round(comparison.high, 4)],
        "noisy": noisy,
        "reasons": list(reasons),
    }


def size_warning(
    name: str, size_bytes: int | None, reference_name: str, reference_size: int | None
) -> dict[str, Any] | None:
    """A warning when the variant's IR is larger than the FP32 reference's."""
    if not size_bytes or not reference_size or size_bytes <= reference_size * (1.0 + SIZE_MARGIN):
        return None
    ratio = size_bytes / reference_size
    return {
        "kind": "larger_than_reference",
        "message": (
            f"{name} is larger than {reference_name} (FP32): {ratio:.2f}× its size"
            f" ({size_bytes / 1e6:.2f} MB vs {reference_size / 1e6:.2f} MB);"
            " compression added more (quantizer constants, float copies) than it saved"
        ),
        "versus": reference_name,
        "ratio": round(ratio, 4),
    }


def variant_warnings(
    name: str,
    *,
    benchmark: Mapping[str, Any] | None,
    size_bytes: int | None,
    reference: tuple[str, Mapping[str, Any] | None, int | None],
    default: tuple[str, Mapping[str, Any] | None, str | None] | None,
    reasons: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every warning for one compressed variant.

    reference: (name, benchmark block, size in bytes) of the true-f32 FP32 variant; default: (name, benchmark
    block, inference precision) of the FP32 model at the plugin's default precision, when one was measured.
    reasons: likely reasons from the variant's profile, appended to the speed warnings.
    """
    warnings = []
    reference_name, reference_benchmark, reference_size = reference
    if benchmark and default is not None and default[1]:
        label = f"the plugin's default precision, {default[2]}" if default[2] else "the plugin's default precision"
        found = speed_warning(
            name, benchmark, default[0], default[1], kind="slower_than_default", other_label=label, reasons=reasons
        )
        if found:
            warnings.append(found)
    # Where the default is f32 the default *is* the reference: one warning, not the same one twice.
    if benchmark and reference_benchmark and (default is None or default[0] != reference_name):
        found = speed_warning(
            name,
            benchmark,
            reference_name,
            reference_benchmark,
            kind="slower_than_reference",
            other_label="true f32",
            reasons=reasons,
        )
        if found:
            warnings.append(found)
    found = size_warning(name, size_bytes, reference_name, reference_size)
    if found:
        warnings.append(found)
    return warnings
