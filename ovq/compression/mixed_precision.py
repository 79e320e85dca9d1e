"""Speed-aware mixed precision: keep INT8 only where it pays, revert where accuracy is cheapest to buy back.

NNCF's accuracy control reverts operations by accuracy alone; on a CPU whose default precision is bf16
(AMX) that spends the INT8 speed-up to buy back accuracy. This engine decides per quantizable operation:

1. Quantize once (NNCF PTQ, float weights kept so any subset can be reverted by a graph edit,
   ``ovq.compression.fq_revert``).
2. Profile the INT8 model and the FP32 model at the default precision with per-layer counters and match
   the layers by IR operation name (``ovq.compression.op_speed``): what INT8 saves per operation.
   Operations whose INT8 execution is not faster (saving <= ``min_saving_us``) are left out.
3. Rank the rest by accuracy gain per unit of latency cost: the gain is the error the operation's own
   quantization adds to its output (its output against a float twin reading the same activations,
   measured compiled at the deployment precision on ``ranking_subset_size`` items), the cost is the
   measured saving reverting it gives up.
4. Validate, at the deployment precision and with every budget, the prefixes of that ranking (reverting
   the top k). The longest prefix that can still win goes first (with ``min_speedup`` >= 1 that excludes
   reverting everything: that is the default-precision model itself); if even it misses, the search stops
   there. Otherwise an exponential-then-binary search finds the smallest k that holds. Every validated
   point is kept: the front of (accuracy, estimated latency, measured throughput). The fastest point that
   meets the budget (with ``reserve`` kept back) is the result.

Example::

    result = speed_aware_quantize(fp32, calibration, validation, [Budget(nn_agreement, 0.01)])
    result.left_out, result.reverted, [p.to_dict() for p in result.front]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.compression.budget import Budget, BudgetCheck, check_budgets
from ovq.compression.scoring import inputs_of, metric_values, target_of
from ovq.errors import AccuracyBudgetError, ConfigError

if TYPE_CHECKING:
    import openvino as ov

    from ovq.compression.op_speed import OperationSpeed
    from ovq.compression.overflow import OverflowFixMode

# Compile properties that change scheduling, not numbers (dropped when profiling one request).
_SCHEDULING = frozenset({"PERFORMANCE_HINT", "PERFORMANCE_HINT_NUM_REQUESTS", "NUM_STREAMS", "INFERENCE_NUM_THREADS"})


@dataclass
class FrontPoint:
    """One validated mixed-precision model: what it reverts, its accuracy as deployed, its speed."""

    label: str
    reverted: int  # operations in floating point (left out + reverted for accuracy)
    int8_operations: int
    values: dict[str, float]
    met: bool
    estimated_latency_us: float  # the INT8 profile with reverted operations at their default time
    measured_throughput_fps: float  # validation pass at the deployment settings (noisy: a sanity check)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MixedPrecisionResult:
    """The chosen model and the whole story: per-operation speeds and gains, the front, the timings."""

    model: ov.Model
    met: bool
    checks: list[BudgetCheck]
    references: dict[str, float]
    left_out: list[str]  # INT8 not faster than the default precision
    reverted: list[str]  # reverted to recover accuracy, best gain per cost first
    operations: list[dict[str, Any]]
    front: list[FrontPoint]
    chosen: int  # index into front
    quantized_model: ov.Model  # plain PTQ with float weights: reusable by callers
    knobs: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "checks": [check.to_dict() for check in self.checks],
            "references": self.references,
            "left_out": self.left_out,
            "reverted": self.reverted,
            "operations": self.operations,
            "front": [point.to_dict() for point in self.front],
            "chosen": self.chosen,
            "knobs": self.knobs,
            "timings_s": {key: round(value, 3) for key, value in self.timings_s.items()},
        }


class MixedPrecisionBudgetError(AccuracyBudgetError):
    """Even with every quantized operation reverted the budget misses; ``result`` holds the front."""

    def __init__(self, message: str, result: MixedPrecisionResult, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result
        self.details = result.to_dict()


def _holds(checks: Sequence[BudgetCheck], reserve: float) -> bool:
    return all(check.met and check.drop <= check.max_drop * (1.0 - reserve) + 1e-9 for check in checks)


def speed_aware_quantize(
    model: ov.Model,
    calibration: Sequence[Any],
    validation: Sequence[Any],
    budgets: Budget | Sequence[Budget],
    *,
    transform: Callable[[Any], Any] | None = None,
    deploy_properties: Mapping[str, Any] | None = None,
    reference_outputs: Sequence[np.ndarray] | None = None,
    quantized_model: ov.Model | None = None,
    subset_size: int = 300,
    preset: str | None = None,
    model_type: str | None = None,
    fast_bias_correction: bool = True,
    ignored_scope: Any = None,
    ranking_subset_size: int = 64,
    min_saving_us: float = 0.0,
    reserve: float = 0.0,
    max_validations: int = 10,
    speeds: Mapping[str, OperationSpeed] | None = None,
    min_speedup: float | None = None,
    speed_margin: float = 0.10,
    totals_us: tuple[float, float] | None = None,
    overflow_fix: OverflowFixMode | None = None,
    notify: Callable[[str], None] | None = None,
) -> MixedPrecisionResult:
    """INT8 where it is faster than the default precision, float where accuracy is cheapest to buy back.

    Data as in :func:`ovq.compression.accuracy_control.quantize_with_budget` (items, ``transform`` to model
    inputs, drops from the FP32 model as true f32; ``reference_outputs`` skips recomputing it).
    ``deploy_properties`` is how the model will be compiled (its precision is the plugin default unless it
    says otherwise): every ranking and validation uses it. ``quantized_model``: a PTQ result made with
    :func:`ovq.compression.fq_revert.keep_float_weights` (skips calibrating again). ``reserve`` keeps this
    share of each budget's allowed drop back (0.25 of a 0.01 drop: the result holds 0.9925, not 0.99).
    ``speeds``: per-operation times measured elsewhere (e.g. a shared per-layer profile); default: profiled
    here with ``ovq.compression.op_speed``. Operations missing from it count as faster in INT8.
    ``min_speedup``: points whose estimated speed-up over the default precision is below it cannot win
    (e.g. the default itself holds the budget: 1.0) and are not validated; the search stops there.
    ``speed_margin``: with ``min_speedup``, a point must be estimated this share faster still (0.10: 10%);
    closer than that the interleaved benchmark cannot tell it from the point it must beat (measured on a
    shared 2-core machine: the same bf16 MiniLM read 1.06x, 1.08x and 1.11x itself, and a point 40 of 42
    operations reverted, estimated 1.05x, was picked over bf16 on such noise).

    ``totals_us``: with ``speeds``, the (INT8, default-precision) whole-model latencies of the same profile;
    both given, nothing is profiled here. ``overflow_fix``: as in :func:`ovq.compression.ptq.quantize` (default:
    what this process's CPU class needs).

    Raises MixedPrecisionBudgetError (exit code 4, with the front) when no validated point holds.
    """
    import openvino as ov

    from ovq.compression.fq_revert import keep_float_weights, quantized_operations, quantizer_consumers
    from ovq.compression.op_speed import (
        OperationSpeed,
        operation_aliases,
        operation_signatures,
        operation_speeds,
        pooled_by_signature,
        profile_compiled,
        total_us,
    )
    from ovq.compression.ptq import quantize, refuse_if_compressed
    from ovq.runtime.infer import infer_all

    started = time.perf_counter()
    say = notify or (lambda message: None)
    budget_list = [budgets] if isinstance(budgets, Budget) else list(budgets)
    if not budget_list or not validation:
        raise ConfigError("speed_aware_quantize needs at least one budget and validation data")
    if not 0.0 <= reserve < 1.0:
        raise ConfigError(f"reserve must be in [0, 1), got {reserve}")
    if speed_margin < 0.0:
        raise ConfigError(f"speed_margin must be >= 0, got {speed_margin}")
    refuse_if_compressed(model)
    to_inputs = transform or inputs_of
    inputs = [to_inputs(item) for item in validation]
    labels = [target_of(item) for item in validation]
    indices = list(range(len(inputs)))
    metrics = [b.metric for b in budget_list]
    deploy = dict(deploy_properties or {})
    core = ov.Core()
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    if reference_outputs is None:
        reference_compiled = core.compile_model(model, "CPU", {**deploy, "INFERENCE_PRECISION_HINT": "f32"})
        reference_outputs = [outputs[0] for outputs in infer_all(reference_compiled, inputs)]
        del reference_compiled
    references = metric_values(metrics, [[r] for r in reference_outputs], indices, labels, reference_outputs)
    timings["reference"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if quantized_model is None:
        say(f"calibrating INT8 on {min(subset_size, len(calibration))} items")
        quantized_model = quantize(
            model,
            calibration,
            transform=to_inputs,
            subset_size=subset_size,
            preset=preset,
            model_type=model_type,
            fast_bias_correction=fast_bias_correction,
            ignored_scope=ignored_scope,
            advanced_parameters=keep_float_weights(),
            overflow_fix=overflow_fix,
        )
    timings["quantize"] = time.perf_counter() - clock
    structure = quantized_operations(quantized_model)
    names = list(structure)

    clock = time.perf_counter()
    say(f"profiling {len(names)} quantized operations: INT8 vs the default precision")
    profile_properties = {k: v for k, v in deploy.items() if k not in _SCHEDULING}
    if speeds is not None and totals_us is not None:
        int8_total, default_total = totals_us
    else:
        int8_layers = profile_compiled(quantized_model, inputs[0], properties=profile_properties)
        default_layers = profile_compiled(model, inputs[0], properties=profile_properties)
        int8_total, default_total = total_us(int8_layers), total_us(default_layers)
    if speeds is None:
        measured = operation_speeds(
            int8_layers,
            default_layers,
            names,
            quantizer_consumers(quantized_model),
            int8_aliases=operation_aliases(quantized_model, names),
            default_aliases=operation_aliases(model, names),
        )
        speeds = pooled_by_signature(measured, operation_signatures(model, names))
    speeds = {name: speeds.get(name, OperationSpeed(name, None, None, (), ())) for name in names}
    timings["profile"] = time.perf_counter() - clock

    def saving(name: str) -> float:
        value = speeds[name].saving_us
        return 0.0 if value is None else value

    left_out = [name for name in names if speeds[name].saving_us is not None and saving(name) <= min_saving_us]
    candidates = [name for name in names if name not in left_out]

    def estimated_latency(reverted: Sequence[str]) -> float:
        # Reverting an operation trades its INT8 time for its default time: + (default - int8) = + saving.
        return int8_total + sum(saving(name) for name in reverted)

    front: list[FrontPoint] = []
    models: list[ov.Model] = []
    checks_of: list[list[BudgetCheck]] = []

    def validate(label: str, reverted: list[str]) -> FrontPoint:
        from ovq.compression.fq_revert import revert_operations

        candidate = revert_operations(quantized_model, reverted)
        compiled = core.compile_model(candidate, "CPU", deploy)
        clock = time.perf_counter()
        outputs = infer_all(compiled, inputs)
        fps = len(inputs) / max(time.perf_counter() - clock, 1e-9)
        values = metric_values(metrics, outputs, indices, labels, reference_outputs)
        checks = check_budgets(budget_list, references, values)
        point = FrontPoint(
            label, len(reverted), len(names) - len(reverted), values, _holds(checks, reserve),
            estimated_latency(reverted), fps,
        )  # fmt: skip
        front.append(point)
        models.append(candidate)
        checks_of.append(checks)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
        say(f"  {label}: {shown} ({'holds' if point.met else 'misses'})")
        return point

    clock = time.perf_counter()
    validate("plain PTQ", [])
    if left_out:
        validate(f"left out {len(left_out)} slower in INT8", list(left_out))
    timings["validate_start"] = time.perf_counter() - clock

    gains: dict[str, float] = {}
    order: list[str] = []
    knobs_extra: dict[str, Any] = {}
    if not front[-1].met and candidates:
        clock = time.perf_counter()
        gains = _quantization_errors(quantized_model, left_out, candidates, inputs[:ranking_subset_size], deploy)
        timings["rank"] = time.perf_counter() - clock
        per_cost = {name: gains.get(name, 0.0) / max(saving(name), 1.0) for name in candidates}
        order = sorted(candidates, key=lambda name: -per_cost[name])
        reachable = len(order)
        if min_speedup is not None:
            # Prefix latencies grow with k: only the prefixes estimated fast enough can still win.
            limit = default_total / (min_speedup * (1.0 + speed_margin))
            while reachable > 0 and estimated_latency([*left_out, *order[:reachable]]) > limit:
                reachable -= 1
            if min_speedup >= 1.0 and reachable == len(order):
                # Every operation reverted is the model at the default precision: it cannot beat itself.
                reachable -= 1
            if reachable < len(order):
                say(
                    f"  reverting more than {reachable} operations cannot beat {min_speedup:.2f}x the default by"
                    f" {speed_margin:.0%}"
                )
            if reachable == 0:
                knobs_extra["speed_pruned"] = (
                    f"its speed bound: no point is estimated {min_speedup:.2f}x the default plus {speed_margin:.0%}"
                )
        clock = time.perf_counter()
        if reachable > 0:
            stop = _prefix_search(order[:reachable], left_out, validate, max_validations)
            if stop:
                say(f"  {stop}")
                knobs_extra["stopped"] = stop
        timings["validate_search"] = time.perf_counter() - clock

    met_points = [i for i, point in enumerate(front) if point.met]
    sign = 1.0 if metrics[0].higher_is_better else -1.0
    chosen = (
        min(met_points, key=lambda i: front[i].estimated_latency_us)
        if met_points
        else max(range(len(front)), key=lambda i: sign * front[i].values[metrics[0].name])
    )
    chosen_reverted = front[chosen].reverted
    reverted = [name for name in order if name not in left_out][: max(0, chosen_reverted - len(left_out))]
    if chosen == 0:
        left_out_final: list[str] = []
        reverted = []
    else:
        left_out_final = list(left_out)

    def decision(name: str) -> str:
        if name in left_out_final:
            return "left out: not faster in INT8"
        return "reverted for accuracy" if name in reverted else "INT8"

    operations = [
        {
            **speeds[name].to_dict(),
            "quantization_error": gains.get(name),
            "gain_per_us": (gains[name] / max(saving(name), 1.0)) if name in gains else None,
            "decision": decision(name),
        }
        for name in names
    ]
    timings["total"] = time.perf_counter() - started
    result = MixedPrecisionResult(
        model=models[chosen],
        met=front[chosen].met,
        checks=checks_of[chosen],
        references=references,
        left_out=left_out_final,
        reverted=reverted,
        operations=operations,
        front=front,
        chosen=chosen,
        quantized_model=quantized_model,
        knobs={
            "ranking_subset_size": ranking_subset_size,
            "min_saving_us": min_saving_us,
            "reserve": reserve,
            "max_validations": max_validations,
            "estimated_int8_latency_us": int8_total,
            "estimated_default_latency_us": default_total,
            "quantized_operations": len(names),
            "min_speedup": min_speedup,
            "speed_margin": speed_margin,
            **knobs_extra,
        },
        timings_s=timings,
    )
    if not result.met:
        raise MixedPrecisionBudgetError(
            f"speed-aware mixed precision: no validated point holds the budget (best: {front[chosen].label}, "
            + "; ".join(check.describe() for check in result.checks if not check.met)
            + ")",
            result,
            hint="loosen the budget, raise max_validations, or fine-tune with teacher QAT",
        )
    return result


def _prefix_search(
    order: Sequence[str], left_out: Sequence[str], validate: Callable[[str, list[str]], FrontPoint], budget: int
) -> str | None:
    """Validate reverting the top k of ``order``: first all of it, then k = 1, 2, 4, ... until one holds, then bisect.

    The whole order (the most any reachable point reverts) goes first: when even it misses, no shorter
    prefix holds either (the bisection below assumes the same monotonicity) and the search stops after one
    validation; the reason is returned. Measured on MiniLM-L6: the error is spread over all 42 INT8
    operations, no prefix short of 40 holds, and the old search spent 9 more validations to find that out.
    """
    tried: dict[int, bool] = {}

    def attempt(k: int) -> bool:
        if k not in tried:
            tried[k] = validate(f"revert top {k}", [*left_out, *order[:k]]).met
        return tried[k]

    if not attempt(len(order)):
        return f"reverting all {len(order)} reachable operations still misses: no shorter prefix is validated"
    low, high, k = 0, len(order), 1
    while k < high and len(tried) < budget:
        if attempt(k):
            high = k
            break
        low = k
        k *= 2
    while high - low > 1 and len(tried) < budget:
        middle = (low + high) // 2
        if attempt(middle):
            high = middle
        else:
            low = middle
    return None


def _quantization_errors(
    quantized: ov.Model,
    left_out: Sequence[str],
    candidates: Sequence[str],
    inputs: Sequence[Any],
    deploy: Mapping[str, Any],
) -> dict[str, float]:
    """Per operation: mean relative squared error of its INT8 output against a float twin (deployment precision)."""
    import openvino as ov

    from ovq.compression.accuracy_control import infer_all
    from ovq.compression.fq_revert import revert_operations, with_float_twins

    base = revert_operations(quantized, left_out)
    twins, twinned = with_float_twins(base, candidates)
    compiled = ov.Core().compile_model(twins, "CPU", {k: v for k, v in deploy.items() if k not in _SCHEDULING})
    first_pair = len(base.outputs)
    sums = dict.fromkeys(twinned, 0.0)
    for outputs in infer_all(compiled, inputs):
        for index, name in enumerate(twinned):
            quantized_out = outputs[first_pair + 2 * index].astype(np.float64)
            float_out = outputs[first_pair + 2 * index + 1].astype(np.float64)
            power = float(np.mean(float_out**2)) or 1e-30
            sums[name] += float(np.mean((quantized_out - float_out) ** 2)) / power
    return {name: total / max(len(inputs), 1) for name, total in sums.items()}
