"""One search for the deployment: the fastest variant and runtime setting that hold the budget (and an SLA).

Candidates, cheapest first: the model at the plugin's default precision, plain INT8 PTQ, weight-only INT8,
speed-aware mixed precision (``ovq.compression.mixed_precision``), and teacher-guided QAT when the caller
allows it (it needs the torch model). Every candidate's accuracy is measured as deployed (plugin default
precision) against the FP32 model as true f32; its speed with the throughput hint, interleaved with the
others. A candidate whose speed bound is below the best candidate already holding the budget is pruned
before its expensive part: mixed precision and QAT can be no faster than full INT8, weight-only INT8 is
measured for speed before its accuracy. The finalists are then measured under each runtime setting (hint,
streams, requests, threads, batch), interleaved, and the highest throughput that holds the budget and the
latency SLA wins. The whole measured front and the reason for the choice are in the result.

Example::

    result = optimize(fp32_model, calibration, validation, budgets, sla=LatencySla(15.0))
    result.variant, result.setting.label, result.reason
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ovq.benchmarking.protocol import Extension
from ovq.compression.budget import Budget, check_budgets
from ovq.compression.scoring import inputs_of, metric_values, target_of
from ovq.errors import AccuracyBudgetError, ConfigError
from ovq.search.settings import DEFAULT_SETTINGS, LatencySla, RuntimeSetting, measure

if TYPE_CHECKING:
    import numpy as np
    import openvino as ov

    from ovq.benchmarking.engine import BenchmarkResult
    from ovq.compression.overflow import OverflowFixMode

CANDIDATES = ("default", "int8", "weights_int8", "mixed_precision", "qat", "nncf_accuracy_control")


@dataclass
class CandidateRecord:
    """What happened to one candidate: built, validated, measured, pruned or failed, and why."""

    name: str
    status: str  # holds | misses budget | pruned | failed | skipped
    reason: str = ""
    values: dict[str, float] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    compute_int8_share: float | None = None
    throughput_fps: float | None = None
    build_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FrontEntry:
    """One measured (variant, runtime setting): throughput, latency, and whether it holds budget and SLA."""

    variant: str
    setting: dict[str, Any]
    throughput_fps: float | None
    latency_median_ms: float | None
    sla_latency_ms: float | None
    holds_budget: bool
    holds_sla: bool | None
    noisy: bool
    note: str = ""
    throughput_fps_runs: list[float] = field(default_factory=list)  # per repeat, interleaved with the others
    vs_fastest: dict[str, Any] | None = None  # paired comparison with the fastest eligible point (protocol)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OptimizeResult:
    model: ov.Model
    variant: str
    setting: RuntimeSetting
    reason: str
    candidates: list[CandidateRecord]
    front: list[FrontEntry]
    sla: str | None
    timings_s: dict[str, float]
    models: dict[str, ov.Model] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "setting": self.setting.to_dict(),
            "setting_label": self.setting.label,
            "reason": self.reason,
            "sla": self.sla,
            "candidates": [record.to_dict() for record in self.candidates],
            "front": [entry.to_dict() for entry in self.front],
            "timings_s": {key: round(value, 2) for key, value in self.timings_s.items()},
        }


class NothingHoldsError(AccuracyBudgetError):
    """No candidate holds the accuracy budget (or none of their settings holds the SLA): fail closed."""

    def __init__(self, message: str, details: dict[str, Any], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.details = details


def optimize(
    model: ov.Model,
    calibration: Sequence[Any],
    validation: Sequence[Any],
    budgets: Budget | Sequence[Budget],
    *,
    sla: LatencySla | None = None,
    candidates: Sequence[str] = CANDIDATES,
    settings: Sequence[RuntimeSetting] = DEFAULT_SETTINGS,
    qat: Callable[[], ov.Model] | None = None,
    reserve: float = 0.0,
    subset_size: int = 300,
    model_type: str | None = None,
    preset: str | None = None,
    finalists: int = 2,
    duration_s: float = 1.0,
    repeats: int = 3,
    mixed_precision_options: dict[str, Any] | None = None,
    overflow_fix: OverflowFixMode | None = None,
    notify: Callable[[str], None] | None = None,
) -> OptimizeResult:
    """The variant and runtime setting with the highest throughput that holds every budget and the SLA.

    ``qat`` builds the teacher-QAT IR when called (None: QAT is not allowed); ``reserve`` keeps that share
    of each budget's allowed drop back; ``finalists`` is how many budget-holding variants get every
    runtime setting measured; ``overflow_fix`` is the INT8 overflow handling of every INT8 candidate (default:
    what this process's CPU class needs; a pipeline passes its weakest target's, see ovq.compression.overflow).
    Raises NothingHoldsError (exit code 4) with the front when nothing holds.
    """
    import openvino as ov

    from ovq.runtime.execution_precision import execution_precision_summary
    from ovq.runtime.infer import infer_all

    started = time.perf_counter()
    say = notify or (lambda message: None)
    unknown = [name for name in candidates if name not in CANDIDATES]
    if unknown or not candidates:
        raise ConfigError(f"unknown candidates {unknown}; choose from {', '.join(CANDIDATES)}")
    if not settings:
        raise ConfigError("optimize needs at least one runtime setting")
    budget_list = [budgets] if isinstance(budgets, Budget) else list(budgets)
    inputs = [inputs_of(item) for item in validation]
    labels = [target_of(item) for item in validation]
    indices = list(range(len(inputs)))
    metrics = [budget.metric for budget in budget_list]
    core = ov.Core()
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    reference_compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference: list[np.ndarray] = [outputs[0] for outputs in infer_all(reference_compiled, inputs)]
    del reference_compiled
    references = metric_values(metrics, [[r] for r in reference], indices, labels, reference)
    timings["reference"] = time.perf_counter() - clock

    records: dict[str, CandidateRecord] = {}
    models: dict[str, ov.Model] = {}
    feeds = inputs[:8]

    def validate(name: str, candidate: ov.Model, build_s: float, **details: Any) -> CandidateRecord:
        compiled = core.compile_model(candidate, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        values = metric_values(metrics, infer_all(compiled, inputs), indices, labels, reference)
        checks = check_budgets(budget_list, references, values)
        holds = all(c.met and c.drop <= c.max_drop * (1.0 - reserve) + 1e-9 for c in checks)
        share = execution_precision_summary(compiled).compute_int8_share
        record = CandidateRecord(
            name, "holds" if holds else "misses budget", values=values,
            checks=[c.to_dict() for c in checks], compute_int8_share=share, build_s=build_s, details=details,
        )  # fmt: skip
        if not holds:
            record.reason = "; ".join(c.describe() for c in checks if not c.met) or f"within reserve {reserve:g}"
        records[name] = record
        models[name] = candidate
        say(f"  {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()) + f" ({record.status})")
        return record

    def speed(names: Sequence[str]) -> None:
        pairs = [(name, RuntimeSetting("throughput")) for name in names]
        measured = measure(models, pairs, inputs={n: feeds for n in names}, duration_s=duration_s, repeats=2)
        for (name, _), result in measured.items():
            if not isinstance(result, str):
                records[name].throughput_fps = result.throughput_fps

    def best_holding() -> float:
        values = [r.throughput_fps for r in records.values() if r.status == "holds" and r.throughput_fps]
        return max(values, default=0.0)

    def prune(name: str, bound: float | None, what: str) -> bool:
        best = best_holding()
        if bound is not None and best > 0 and bound < best:
            records[name] = CandidateRecord(
                name, "pruned", f"its speed bound ({what}: {bound:.1f}/s) is below the best holding ({best:.1f}/s)"
            )
            say(f"  {name}: pruned ({records[name].reason})")
            return True
        return False

    quantized = None
    clock = time.perf_counter()
    if "default" in candidates:
        validate("default", model, 0.0)
    if any(name in candidates for name in ("int8", "mixed_precision", "qat")):
        from ovq.compression.fq_revert import keep_float_weights
        from ovq.compression.ptq import quantize

        say(f"calibrating INT8 on {min(subset_size, len(calibration))} items")
        build = time.perf_counter()
        quantized = quantize(
            model, calibration, subset_size=subset_size, model_type=model_type, preset=preset,
            advanced_parameters=keep_float_weights(), overflow_fix=overflow_fix,
        )  # fmt: skip
        validate("int8", quantized, time.perf_counter() - build)
    speed(list(models))
    timings["default_and_int8"] = time.perf_counter() - clock
    int8_speed = records["int8"].throughput_fps if "int8" in records else None

    if "weights_int8" in candidates:
        from ovq.compression.weights import compress_weights

        clock = time.perf_counter()
        models["weights_int8"] = compress_weights(model, mode="int8_asym")
        records["weights_int8"] = CandidateRecord("weights_int8", "measuring", build_s=time.perf_counter() - clock)
        speed(["weights_int8"])
        measured_speed = records["weights_int8"].throughput_fps
        if prune("weights_int8", measured_speed, "measured"):
            models.pop("weights_int8")
        else:
            validate("weights_int8", models["weights_int8"], records["weights_int8"].build_s)
            records["weights_int8"].throughput_fps = measured_speed
        timings["weights_int8"] = time.perf_counter() - clock

    int8_holds = "int8" in records and records["int8"].status == "holds"
    for name in ("mixed_precision", "qat", "nncf_accuracy_control"):
        if name not in candidates or (name == "qat" and qat is None):
            if name in candidates:
                records[name] = CandidateRecord(name, "skipped", "QAT not allowed here (no torch model or qat: false)")
            continue
        if int8_holds:
            records[name] = CandidateRecord(name, "skipped", "plain INT8 already holds the budget, and is faster")
            continue
        # NNCF's accuracy control is there to be compared with: it is measured even when it cannot win.
        if name != "nncf_accuracy_control" and prune(name, int8_speed, "full INT8 measured"):
            continue
        clock = time.perf_counter()
        try:
            if name == "mixed_precision":
                options = dict(mixed_precision_options or {})
                default_speed = records["default"].throughput_fps if "default" in records else None
                if default_speed and best_holding() > 0:
                    # Points estimated slower than the best holding candidate cannot win: not validated.
                    options["min_speedup"] = best_holding() / default_speed
                built = _mixed_precision(model, calibration, validation, budget_list, quantized, reference,
                                         reserve, options, say)  # fmt: skip
            elif name == "qat":
                assert qat is not None
                built = qat(), {}
            else:
                built = _nncf_accuracy_control(model, calibration, validation, budget_list, reference, subset_size,
                                               model_type, preset, overflow_fix)  # fmt: skip
        except AccuracyBudgetError as error:
            details = getattr(error, "details", {}) or {}
            # Mixed precision with no point estimated fast enough to win validated nothing: pruned, not missed.
            pruned = details.get("knobs", {}).get("speed_pruned")
            records[name] = CandidateRecord(
                name, "pruned" if pruned else "misses budget", pruned or error.message,
                build_s=time.perf_counter() - clock, details=details,
            )  # fmt: skip
            say(f"  {name}: {error.message}")
            timings[name] = time.perf_counter() - clock
            continue
        record = validate(name, built[0], time.perf_counter() - clock, **built[1])
        if record.status == "holds":
            speed([name])
        timings[name] = time.perf_counter() - clock

    return _choose(models, records, settings, sla, finalists, feeds, duration_s, repeats, timings, started, say)


def _mixed_precision(
    model: ov.Model,
    calibration: Sequence[Any],
    validation: Sequence[Any],
    budgets: list[Budget],
    quantized: ov.Model | None,
    reference: Sequence[Any],
    reserve: float,
    options: dict[str, Any],
    say: Callable[[str], None],
) -> tuple[ov.Model, dict[str, Any]]:
    from ovq.compression.mixed_precision import speed_aware_quantize

    result = speed_aware_quantize(
        model, calibration, validation, budgets, quantized_model=quantized, reference_outputs=reference,
        reserve=reserve, deploy_properties={"PERFORMANCE_HINT": "THROUGHPUT"}, notify=say, **options,
    )  # fmt: skip
    return result.model, {"mixed_precision": result.to_dict()}


def _nncf_accuracy_control(
    model: ov.Model,
    calibration: Sequence[Any],
    validation: Sequence[Any],
    budgets: list[Budget],
    reference: Sequence[Any],
    subset_size: int,
    model_type: str | None,
    preset: str | None,
    overflow_fix: OverflowFixMode | None,
) -> tuple[ov.Model, dict[str, Any]]:
    """NNCF's own accuracy control on the same data (validated at the deployment precision), for comparison."""
    from ovq.compression.accuracy_control import quantize_with_budget

    result = quantize_with_budget(
        model, calibration, validation, budgets, reference_outputs=reference, subset_size=subset_size,
        model_type=model_type, preset=preset, deploy_properties={"PERFORMANCE_HINT": "THROUGHPUT"},
        overflow_fix=overflow_fix,
    )  # fmt: skip
    summary = {
        "reverted": len(result.reverted_operations),
        "quantized_before": result.quantized_operations_before,
        "seconds": result.timings_s.get("total"),
    }
    return result.model, {"nncf_accuracy_control": summary}


def _choose(
    models: dict[str, ov.Model],
    records: dict[str, CandidateRecord],
    settings: Sequence[RuntimeSetting],
    sla: LatencySla | None,
    finalists: int,
    feeds: Sequence[Any],
    duration_s: float,
    repeats: int,
    timings: dict[str, float],
    started: float,
    say: Callable[[str], None],
) -> OptimizeResult:
    """Measure the finalists under every setting, interleaved, and pick the fastest that holds everything."""
    holding = sorted((r for r in records.values() if r.status == "holds"), key=lambda r: -(r.throughput_fps or 0.0))
    story = {"candidates": [r.to_dict() for r in records.values()], "sla": sla.describe() if sla else None}
    if not holding:
        raise NothingHoldsError(
            "no candidate holds the accuracy budget: "
            + "; ".join(f"{r.name}: {r.status} {r.reason}".strip() for r in records.values()),
            story,
            hint="loosen the budget, allow teacher QAT (qat: true), or add calibration data",
        )
    clock = time.perf_counter()
    chosen_names = [r.name for r in holding[:finalists]]
    say(f"measuring {len(chosen_names)} finalist(s) x {len(settings)} runtime settings, interleaved")
    pairs = [(name, setting) for name in chosen_names for setting in settings]
    # Rounds are added while a point is not yet told apart from the fastest (a tie is a verdict too).
    extension = Extension(
        max_repeats=max(3 * repeats, 6), time_cap_s=len(pairs) * repeats * duration_s, versus_fastest=True
    )
    measured = measure(
        models, pairs, inputs={n: feeds for n in chosen_names}, duration_s=duration_s, repeats=repeats,
        extension=extension,
    )  # fmt: skip
    timings["settings"] = time.perf_counter() - clock
    front: list[FrontEntry] = []
    for (name, setting), outcome in measured.items():
        if isinstance(outcome, str):
            front.append(FrontEntry(name, setting.to_dict(), None, None, None, True, None, False, outcome))
            continue
        front.append(_entry(name, setting, outcome, sla))
    for record in records.values():
        if record.status in ("holds", "misses budget") and record.name not in chosen_names and record.throughput_fps:
            front.append(FrontEntry(record.name, RuntimeSetting().to_dict(), record.throughput_fps, None, None,
                                    record.status == "holds", None, False, "screening measurement"))  # fmt: skip
    eligible = [e for e in front if e.holds_budget and e.holds_sla is not False and e.throughput_fps is not None]
    timings["total"] = time.perf_counter() - started
    story["front"] = [entry.to_dict() for entry in front]
    if not eligible:
        raise NothingHoldsError(
            f"no measured setting holds the latency SLA {sla.describe() if sla else ''}: best "
            + ", ".join(
                f"{e.variant}@{RuntimeSetting(**e.setting).label} {e.sla_latency_ms:.1f} ms"
                for e in front
                if e.sla_latency_ms is not None
            ),
            story,
            hint="relax the SLA, or try the latency hint / fewer requests in settings",
        )
    best = _tie_ruled(eligible, models)
    setting = RuntimeSetting(**best.setting)
    result = OptimizeResult(
        model=models[best.variant], variant=best.variant, setting=setting,
        reason=_reason(best, front, records, sla), candidates=list(records.values()), front=front,
        sla=sla.describe() if sla else None, timings_s=timings, models=models,
    )  # fmt: skip
    say(f"chosen: {best.variant} @ {setting.label}: {result.reason}")
    return result


def _entry(name: str, setting: RuntimeSetting, result: BenchmarkResult, sla: LatencySla | None) -> FrontEntry:
    return FrontEntry(
        name, setting.to_dict(), result.throughput_fps, result.latency_ms.get("median"),
        sla.latency_of(result) if sla else None, True, sla.holds(result) if sla else None, result.noisy,
        throughput_fps_runs=list(result.throughput_fps_runs),
    )  # fmt: skip


def _tie_ruled(eligible: list[FrontEntry], models: Mapping[str, ov.Model]) -> FrontEntry:
    """The fastest eligible point, where "fastest" needs a paired interval: ties go to the declared tie rule.

    Every point measured interleaved with the fastest gets its comparison with it (``vs_fastest``); those
    not proven slower are tied with it, and among them the smallest model wins, then the uncompressed one,
    then the earliest measured (the settings' own order). Points without paired repeats (screening
    measurements) cannot tie and are ranked by their throughput alone.
    """
    from ovq.benchmarking.protocol import against_fastest, compare_runs

    fastest = max(eligible, key=lambda e: e.throughput_fps or 0.0)
    if not fastest.throughput_fps_runs:
        return fastest
    label = f"{fastest.variant} @ {RuntimeSetting(**fastest.setting).label}"
    compared = against_fastest(
        [e for e in eligible if e.throughput_fps_runs],
        speed=lambda e: e.throughput_fps or 0.0,
        compare=lambda e, top: compare_runs(e.throughput_fps_runs, top.throughput_fps_runs, versus=label),
    )
    tied: list[tuple[FrontEntry, str]] = []
    for entry, comparison in compared:
        if comparison is not None:
            entry.vs_fastest = comparison.to_dict()
        if comparison is None or comparison.verdict != "slower":
            tied.append((entry, comparison.describe() if comparison is not None else ""))
    sizes = {name: _weight_bytes(models[name]) for name in {entry.variant for entry, _ in tied}}
    best, how = min(
        tied, key=lambda pair: (sizes[pair[0].variant], pair[0].variant != "default", eligible.index(pair[0]))
    )
    if best is not fastest:
        tie = f"tied with the fastest, {label} ({how}): the smaller or simpler one is chosen"
        best.note = f"{best.note}; {tie}" if best.note else tie
    return best


def _weight_bytes(model: ov.Model) -> int:
    """Bytes of the model's constants: what the tie rule calls its size."""
    return sum(int(op.get_byte_size()) for op in model.get_ops() if op.get_type_name() == "Constant")


def _reason(
    best: FrontEntry, front: list[FrontEntry], records: dict[str, CandidateRecord], sla: LatencySla | None
) -> str:
    label = RuntimeSetting(**best.setting).label
    parts = [f"{best.variant} @ {label} has the highest throughput ({best.throughput_fps:.1f}/s) of the measured"
             " points that hold the accuracy budget"]  # fmt: skip
    if best.vs_fastest is not None:  # chosen by the tie rule (see _tie_ruled)
        parts = [f"{best.variant} @ {label} ({best.throughput_fps:.1f}/s) holds the accuracy budget and was"
                 f" {best.note}"]  # fmt: skip
    if sla is not None:
        parts[0] += f" and the SLA {sla.describe()} ({best.sla_latency_ms:.1f} ms)"
        faster = [
            e
            for e in front
            if e.holds_budget and e.holds_sla is False and (e.throughput_fps or 0) > (best.throughput_fps or 0)
        ]
        if faster:
            top = max(faster, key=lambda e: e.throughput_fps or 0.0)
            parts.append(
                f"{top.variant} @ {RuntimeSetting(**top.setting).label} is faster ({top.throughput_fps:.1f}/s) but its"
                f" p{sla.percentile} latency {top.sla_latency_ms:.1f} ms breaks the SLA"
            )
    missed = [r.name for r in records.values() if r.status == "misses budget"]
    if missed:
        parts.append(f"{', '.join(missed)} miss the accuracy budget")
    pruned = [r.name for r in records.values() if r.status == "pruned"]
    if pruned:
        parts.append(f"{', '.join(pruned)} pruned: could not beat the best holding candidate")
    return "; ".join(parts)
