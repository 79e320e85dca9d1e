"""Nightly speed regressions confirmed by a same-night A/B, never guessed from two nights' absolute numbers.

Two nights are measured under two different loads; on a shared runner their throughputs differ by tens of
percent with nothing changed (and a night measured under load, once passed, would lower tomorrow's bar).
So the speed gates of every variant with a stored baseline model (:mod:`ovq.nightly.artifacts`) are
decided here, not by the two nights' numbers:

- tonight's model is **the same compiled thing** as the baseline's (same IR without ovq's provenance, same
  resolved compile settings): nothing in the model can have regressed; the gate passes and says so;
- otherwise ovq measures the baseline's model (compiled with the settings that night resolved) and tonight's
  (with tonight's), interleaved in this process, and gates on the paired ratio with its interval
  (:mod:`ovq.benchmarking.protocol`): a regression is **confirmed** when the interval of tonight/baseline
  lies wholly beyond the allowed drop (throughput) or rise (latency); otherwise the gate passes;
- when the baseline's model is not stored (a pinned file, a history from before ovq kept models, pruned),
  the gate keeps the nights' verdict and says it could not be confirmed.

The absolute numbers across nights stay in the history and the trend plots; they are not the verdict.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ovq.benchmarking.protocol import Extension, SpeedComparison, compare_ratios
from ovq.nightly.baselines import Tolerances
from ovq.nightly.gates import Baseline, GateResult
from ovq.report.schema import Report, VariantReport

#: Per-repeat measuring time and the first repeats of the A/B, extended while the gate's question is open:
#: many short repeats, because a loaded machine's slow spells last about a second and more pairs are what
#: narrow the interval (measured by tests/perf/noise_robustness.py: 11 one-second pairs caught 6 of 10 real
#: 22% slowdowns under load; the cap is what a nightly job can afford per variant).
AB_DURATION_S = 0.5
AB_REPEATS = 8
AB_MAX_REPEATS = 40
AB_TIME_CAP_S = 40.0
#: Plugin properties a stored compile block can hand back to the plugin (the rest are read-only).
_WRITABLE = (
    "PERFORMANCE_HINT",
    "INFERENCE_PRECISION_HINT",
    "EXECUTION_MODE_HINT",
    "NUM_STREAMS",
    "INFERENCE_NUM_THREADS",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE",
    "KV_CACHE_PRECISION",
)
SPEED_GATES = ("throughput_regression", "latency_regression")


@dataclasses.dataclass(frozen=True)
class SameNightAB:
    """Tonight's model against the baseline's, measured interleaved: throughput and latency comparisons."""

    variant: str
    throughput: SpeedComparison  # tonight / baseline, > 1: tonight is faster
    latency: SpeedComparison  # baseline latency / tonight latency, > 1: tonight is faster
    tonight_fps: float
    baseline_fps: float
    machine: dict[str, Any] | None

    def describe(self) -> str:
        return (
            f"same-night A/B of {self.variant}: tonight/baseline throughput {self.throughput.describe()}"
            f" ({self.tonight_fps:.4g} vs {self.baseline_fps:.4g} FPS), latency {self.latency.describe()}"
        )


def compile_settings(variant: VariantReport) -> dict[str, str]:
    """The plugin configuration a recorded variant was compiled with (its resolved, writable properties)."""
    block = variant.compile
    properties = dict(block.properties or {}) if block is not None else {}
    return {key: str(properties[key]) for key in _WRITABLE if properties.get(key) not in (None, "")}


def measure_ab(
    variant: str,
    tonight: tuple[Path, Mapping[str, str]],
    baseline: tuple[Path, Mapping[str, str]],
    *,
    duration_s: float = AB_DURATION_S,
    repeats: int = AB_REPEATS,
    allowed: float = Tolerances().throughput_drop,
) -> SameNightAB:
    """Tonight's and the baseline's model, each with its own compile settings, interleaved.

    Rounds are added until the throughput ratio's interval answers the gate's question, lying wholly below
    ``1 - allowed`` (a regression) or wholly above it (none), or until the caps.
    """
    from ovq.benchmarking.engine import benchmark_interleaved
    from ovq.runtime.compile import compile_for

    compiled = {
        "tonight": compile_for(tonight[0], dict(tonight[1])),
        "baseline": compile_for(baseline[0], dict(baseline[1])),
    }
    extension = Extension(
        max_repeats=AB_MAX_REPEATS, time_cap_s=AB_TIME_CAP_S, pairs=(("tonight", "baseline"),), threshold=1 - allowed
    )
    results = benchmark_interleaved(compiled, repeats=repeats, duration_s=duration_s, extension=extension)
    ours, theirs = results["tonight"], results["baseline"]
    throughput = compare_ratios(
        [a.throughput_fps / b.throughput_fps for a, b in zip(ours.runs, theirs.runs, strict=True)], versus="baseline"
    )
    latency = compare_ratios(
        [b.latency_ms["median"] / a.latency_ms["median"] for a, b in zip(ours.runs, theirs.runs, strict=True)],
        versus="baseline",
    )
    return SameNightAB(
        variant, throughput, latency, statistics.median(r.throughput_fps for r in ours.runs),
        statistics.median(r.throughput_fps for r in theirs.runs), ours.machine,
    )  # fmt: skip


def confirmed(gate: GateResult, ab: SameNightAB, allowed: float) -> bool:
    """True when the A/B's interval lies wholly beyond the gate's allowed drop (or rise)."""
    if gate.name == "throughput_regression":
        return ab.throughput.high < 1.0 - allowed
    return ab.latency.high < 1.0 / (1.0 + allowed)


def _model_path(variant: VariantReport, run_dir: Path) -> Path | None:
    if not variant.model_path:
        return None
    path = Path(variant.model_path)
    path = path if path.is_absolute() else run_dir / path
    return path if path.is_file() and path.with_suffix(".bin").is_file() else None


def allowed_share(gate: GateResult, baseline: Baseline) -> float:
    """The configured tolerance of a speed gate (not widened by noise): what the A/B's interval must clear."""
    tolerances = baseline.variants[gate.variant or ""].tolerances
    return tolerances.throughput_drop if gate.name == "throughput_regression" else tolerances.latency_rise


def confirm_speed_gates(
    gates: list[GateResult],
    report: Report,
    run_dir: Path,
    baseline: Baseline,
    baseline_model: Mapping[str, Path | None],
) -> tuple[list[GateResult], list[str]]:
    """Decide every compared speed gate by identity or a same-night A/B; returns the gates and the notes.

    baseline_model: variant name -> the baseline's stored IR (None: not kept).
    """
    from ovq.pipeline.identical import model_digest

    judged = {gate.variant for gate in gates if gate.name in SPEED_GATES and gate.status != "skipped"}
    variants = {v.name: v for v in report.variants}
    then = {v.name: v for v in baseline.report.variants} if baseline.report is not None else {}
    notes: list[str] = []
    outcomes: dict[str, SameNightAB | str] = {}
    for name in sorted(n for n in judged if n is not None):
        tonight_path = _model_path(variants[name], run_dir) if name in variants else None
        stored = baseline_model.get(name)
        if tonight_path is None or stored is None or name not in then:
            why = "the baseline's model is not stored"
            if tonight_path is None:
                why = "tonight's model is not in the run folder"
            outcomes[name] = f"not confirmed by a same-night A/B ({why}); the verdict rests on two nights' numbers"
            if any(g.variant == name and g.status == "failed" for g in gates):
                notes.append(f"{name}: {outcomes[name]}")
            continue
        tonight_settings, baseline_settings = compile_settings(variants[name]), compile_settings(then[name])
        if model_digest(tonight_path) == model_digest(stored) and tonight_settings == baseline_settings:
            outcomes[name] = IDENTICAL
            continue
        tolerances = baseline.variants[name].tolerances if name in baseline.variants else Tolerances()
        allowed = tolerances.throughput_drop
        ab = measure_ab(name, (tonight_path, tonight_settings), (stored, baseline_settings), allowed=allowed)
        outcomes[name] = ab
        notes.append(ab.describe())
    return [_rejudged(gate, outcomes.get(gate.variant or ""), baseline) for gate in gates], notes


IDENTICAL = "identical"


def _rejudged(gate: GateResult, outcome: SameNightAB | str | None, baseline: Baseline) -> GateResult:
    if outcome is None or gate.name not in SPEED_GATES or gate.status == "skipped":
        return gate
    if outcome == IDENTICAL:
        message = (
            f"{gate.message}; tonight's model compiles to the same thing as the baseline's: the difference is the"
            " machine's, not a regression"
        )
        return dataclasses.replace(gate, status="passed", message=message)
    if isinstance(outcome, str):
        return dataclasses.replace(gate, message=f"{gate.message}; {outcome}") if gate.status == "failed" else gate
    if confirmed(gate, outcome, allowed_share(gate, baseline)):
        message = f"{gate.message}; confirmed by a {outcome.describe()}"
        return dataclasses.replace(gate, status="failed", message=message)
    verb = "overturned" if gate.status == "failed" else "held"
    message = f"{gate.message}; {verb}: the {outcome.describe()} shows no regression beyond the allowed share"
    return dataclasses.replace(gate, status="passed", message=message)
