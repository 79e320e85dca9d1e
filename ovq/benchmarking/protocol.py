"""Speed verdicts that carry their uncertainty: paired ratios, an interval, and ties called ties.

Repeat ``i`` of two variants was measured back to back by the interleaved benchmark, so the per-repeat
ratio ``ours[i] / theirs[i]`` cancels slow drift of the machine. The verdict is read from a confidence
interval of the paired ratio (:func:`ratio_interval`: the wider of a bootstrap of the median and a Student-t
interval of the mean, on the logarithms), never from the point ratio:

- **faster** when the whole interval lies above ``1 + margin``, **slower** when it lies below ``1 - margin``;
- a **tie** when it lies inside ``(1 - margin, 1 + margin)``: the two cannot differ by the margin;
- **undecided** otherwise (the interval is wider than the question): the benchmark measures more repeats,
  up to its time cap (:class:`Extension`), and a comparison still undecided then is reported as such and
  treated as a tie by every choice (the declared tie rule decides: smaller, then uncompressed);
- **identical** when both sides compile to the same thing (same IR bytes, same resolved compile settings):
  measured once, never ranked.

Example::

    comparison = compare_runs([101.0, 99.0, 100.5], [100.0, 100.2, 99.1])
    comparison.verdict   # 'tie'
    comparison.describe()  # '1.00× [0.99, 1.01], a tie'
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Verdict = Literal["faster", "slower", "tie", "undecided", "identical"]

#: The smallest throughput difference ovq calls a difference (a ratio outside 1 ± MARGIN).
MARGIN = 0.05
#: The confidence of the interval a verdict is read from.
CONFIDENCE = 0.95
#: Fewer paired repeats than this decide nothing: the comparison stays undecided. A busy 2-core machine
#: switches between fast and slow regimes that last about as long as a short repeat (a tiny model measured
#: here ran at 12k or 25k FPS by turns); three pairs can all fall on one side by chance and "prove" a 2x
#: difference between the same model compiled twice, five rarely do.
MIN_PAIRS = 5
#: Bootstrap resamples; with the fixed seed the interval is reproducible from the stored repeats.
RESAMPLES = 2000
_SEED = 20261207


@dataclasses.dataclass(frozen=True)
class SpeedComparison:
    """``ratio`` (median paired throughput ratio, > 1: faster) with its interval and the verdict read from it."""

    ratio: float
    low: float
    high: float
    repeats: int
    verdict: Verdict
    margin: float = MARGIN
    confidence: float = CONFIDENCE
    versus: str | None = None

    @property
    def differs(self) -> bool:
        """True only for a difference the interval proves (faster or slower)."""
        return self.verdict in ("faster", "slower")

    def describe(self) -> str:
        """The one line every view shows, e.g. ``1.32× [1.25, 1.40], faster``."""
        if self.verdict == "identical":
            return "identical (the same compiled model; measured once)"
        if not math.isfinite(self.ratio):
            return "not measured"
        words = {
            "faster": "faster",
            "slower": "slower",
            "tie": "a tie",
            "undecided": f"undecided after {self.repeats} paired repeats (treated as a tie)",
        }[self.verdict]
        return f"{self.ratio:.2f}× [{self.low:.2f}, {self.high:.2f}], {words}"

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float) -> float | None:
            return round(value, 4) if math.isfinite(value) else None  # nothing measured: null, never NaN

        return {
            "ratio": rounded(self.ratio),
            "low": rounded(self.low),
            "high": rounded(self.high),
            "repeats": self.repeats,
            "verdict": self.verdict,
            "margin": self.margin,
            "confidence": self.confidence,
            "versus": self.versus,
        }


def identical(versus: str | None = None) -> SpeedComparison:
    """The comparison of a variant with one that compiles to the same thing."""
    return SpeedComparison(1.0, 1.0, 1.0, 0, "identical", versus=versus)


def ratio_interval(
    ratios: Sequence[float], *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """Interval of the typical paired ratio: the wider of two intervals, computed on the logarithms.

    A percentile bootstrap of the median resists one disturbed repeat but, with a handful of repeats, is
    far too narrow (three ratios give at most ten distinct resamples); a Student-t interval of the mean is
    honest about few repeats but not about outliers. Taking the union keeps each one's honesty: with three
    repeats only a large, consistent difference is decided, and more repeats are what narrow it.
    """
    if not ratios:
        raise ValueError("ratio_interval needs at least one ratio")
    logs = [math.log(r) for r in ratios]
    if len(logs) == 1:
        return ratios[0], ratios[0]
    rng = random.Random(_SEED)
    n = len(logs)
    medians = sorted(statistics.median(rng.choices(logs, k=n)) for _ in range(resamples))
    tail = (1.0 - confidence) / 2.0
    low = medians[max(math.floor(tail * resamples), 0)]
    high = medians[min(math.ceil((1.0 - tail) * resamples) - 1, resamples - 1)]
    half_width = _t_quantile(1.0 - tail, n - 1) * statistics.stdev(logs) / math.sqrt(n)
    mean = statistics.fmean(logs)
    return math.exp(min(low, mean - half_width)), math.exp(max(high, mean + half_width))


def _t_quantile(probability: float, degrees_of_freedom: int) -> float:
    from scipy.stats import t  # imported here: scipy is slow to import and only verdicts need it

    return float(t.ppf(probability, degrees_of_freedom))


def verdict_of(low: float, high: float, *, margin: float = MARGIN) -> Verdict:
    """faster / slower / tie / undecided from an interval of the ratio (see the module docstring)."""
    if low > 1.0 + margin:
        return "faster"
    if high < 1.0 - margin:
        return "slower"
    if low > 1.0 - margin and high < 1.0 + margin:
        return "tie"
    return "undecided"


def compare_ratios(
    ratios: Sequence[float], *, margin: float = MARGIN, confidence: float = CONFIDENCE, versus: str | None = None
) -> SpeedComparison:
    """The verdict on paired per-repeat ratios (ours / theirs)."""
    usable = [float(r) for r in ratios if r > 0 and math.isfinite(r)]
    if not usable:
        return SpeedComparison(math.nan, math.nan, math.nan, 0, "undecided", margin, confidence, versus)
    low, high = ratio_interval(usable, confidence=confidence)
    verdict = verdict_of(low, high, margin=margin) if len(usable) >= MIN_PAIRS else "undecided"
    return SpeedComparison(statistics.median(usable), low, high, len(usable), verdict, margin, confidence, versus)


def compare_runs(
    ours: Sequence[float], theirs: Sequence[float], *, margin: float = MARGIN, versus: str | None = None
) -> SpeedComparison:
    """The verdict on two interleaved throughput series (repeat i of each measured back to back)."""
    ratios = [a / b for a, b in zip(ours, theirs, strict=False) if a > 0 and b > 0]
    return compare_ratios(ratios, margin=margin, versus=versus)


def against_fastest(
    items: Sequence[T], speed: Callable[[T], float], compare: Callable[[T, T], SpeedComparison]
) -> list[tuple[T, SpeedComparison | None]]:
    """Every item with its comparison against the fastest (None for the fastest itself), in their order.

    What each choice of "the fastest" shares (the deliverable, optimize's front, a sweep's best): those
    whose comparison is not ``slower`` are tied with the fastest, and the caller's tie rule picks among them.
    """
    fastest = max(items, key=speed)
    return [(item, None if item is fastest else compare(item, fastest)) for item in items]


def compare_unpaired(
    ours: Sequence[float], theirs: Sequence[float], *, margin: float = MARGIN, versus: str | None = None
) -> SpeedComparison:
    """The verdict on two throughput series that were *not* measured interleaved (e.g. two runs of a sweep).

    Nothing pairs their repeats, so the interval is a Welch interval of the difference of mean logarithms
    (the ratio of geometric means): wider than a paired one, and blind to a load that changed between the
    two measurements, which is why ovq pairs wherever it can.
    """
    a = [math.log(x) for x in ours if x > 0 and math.isfinite(x)]
    b = [math.log(x) for x in theirs if x > 0 and math.isfinite(x)]
    if not a or not b:
        return SpeedComparison(math.nan, math.nan, math.nan, 0, "undecided", margin, CONFIDENCE, versus)
    centre = statistics.fmean(a) - statistics.fmean(b)
    repeats = min(len(a), len(b))
    if repeats < MIN_PAIRS:
        ratio = math.exp(centre)
        return SpeedComparison(ratio, ratio, ratio, repeats, "undecided", margin, CONFIDENCE, versus)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0.0:
        low = high = centre
    else:  # Welch-Satterthwaite degrees of freedom
        dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        half = _t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, max(int(dof), 1)) * math.sqrt(va + vb)
        low, high = centre - half, centre + half
    low, high = math.exp(low), math.exp(high)
    return SpeedComparison(
        math.exp(centre), low, high, repeats, verdict_of(low, high, margin=margin), margin, CONFIDENCE, versus
    )


@dataclasses.dataclass(frozen=True)
class Extension:
    """How far the interleaved benchmark may go on measuring when a comparison is still undecided.

    max_repeats: rounds in all (the first ``repeats`` included); time_cap_s: wall time the extra rounds may
    take; pairs: the (variant, baseline) comparisons that must be decided (None: every variant against the
    first one; with ``versus_fastest``, every variant against the one with the highest median so far: what a
    search that picks the fastest must decide); busy_extra_repeats: rounds added up front when the machine is
    busy when measuring starts; threshold: when set, a pair is decided once its interval lies wholly on one
    side of this ratio (a gate's question, e.g. 0.90 for "did it lose more than 10%?") instead of by the
    faster/slower/tie verdict.
    """

    max_repeats: int = 12
    time_cap_s: float = 60.0
    pairs: tuple[tuple[str, str], ...] | None = None
    margin: float = MARGIN
    busy_extra_repeats: int = 2
    versus_fastest: bool = False
    threshold: float | None = None

    def undecided(self, throughputs: dict[str, list[float]]) -> list[tuple[str, str]]:
        """The pairs whose comparison the repeats so far leave undecided."""
        names = list(throughputs)
        if self.versus_fastest and self.pairs is None and names:
            fastest = max(names, key=lambda name: statistics.median(throughputs[name] or [0.0]))
            names = [fastest, *(name for name in names if name != fastest)]
        pairs = self.pairs if self.pairs is not None else tuple((name, names[0]) for name in names[1:])
        return [
            (a, b)
            for a, b in pairs
            if a in throughputs
            and b in throughputs
            and self._open(compare_runs(throughputs[a], throughputs[b], margin=self.margin))
        ]

    def _open(self, comparison: SpeedComparison) -> bool:
        if self.threshold is None or comparison.repeats < MIN_PAIRS:
            return comparison.verdict == "undecided"
        return comparison.low <= self.threshold <= comparison.high
