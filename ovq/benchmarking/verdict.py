"""Honest warnings: a compressed variant slower than the default precision or than FP32, or larger than FP32.

Speed is judged on paired ratios: repeat ``i`` of two variants was measured back to back by the interleaved
benchmark, so ``throughput_fps_runs[i] / other.throughput_fps_runs[i]`` cancels slow machine drift. A
variant is *slower beyond noise* when the median paired ratio is below ``1 - margin`` and, if either
measurement was flagged noisy, every single repeat agrees that it was slower. Each warning carries the
likely reason read from the variant's profile (:func:`ovq.runtime.profile.likely_reasons`).

Warnings are plain dicts (``kind``, ``message`` and the numbers behind it), stored in report.json per
variant, so the console, report.md and report.html all show the same sentence.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

#: A variant must be this much slower (median paired ratio below 1 - margin) before it is called slower.
NOISE_MARGIN = 0.05
#: A variant whose IR is larger than FP32's by more than this fraction gets a size warning.
SIZE_MARGIN = 0.005


def paired_ratios(variant: Mapping[str, Any], other: Mapping[str, Any]) -> list[float]:
    """Per-repeat throughput ratios ``variant / other`` from two benchmark blocks (``throughput_fps_runs``)."""
    ours = [float(x) for x in variant.get("throughput_fps_runs") or [variant.get("throughput_fps") or 0.0]]
    theirs = [float(x) for x in other.get("throughput_fps_runs") or [other.get("throughput_fps") or 0.0]]
    return [a / b for a, b in zip(ours, theirs, strict=False) if a > 0 and b > 0]


def slower_beyond_noise(ratios: Sequence[float], *, noisy: bool, margin: float = NOISE_MARGIN) -> bool:
    """True when the paired ratios say "slower" beyond the noise of the measurement."""
    if not ratios:
        return False
    if statistics.median(ratios) >= 1.0 - margin:
        return False
    # A noisy measurement needs every repeat to agree; a quiet one is judged by its median.
    return not noisy or max(ratios) < 1.0


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
    if not slower_beyond_noise(ratios, noisy=noisy):
        return None
    ratio = statistics.median(ratios)
    message = f"{name} is slower than {other_name} ({other_label}): {ratio:.2f}× its throughput"
    if noisy:
        message += " (noisy measurement, every repeat slower)"
    if reasons:
        message += "; likely: " + "; ".join(reasons)
    return {
        "kind": kind,
        "message": message,
        "versus": other_name,
        "ratio": round(ratio, 4),
        "paired_ratios": [round(r, 4) for r in ratios],
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
