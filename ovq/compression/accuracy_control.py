"""Accuracy budgets that hold: NNCF accuracy-aware quantization that fails closed, with its story as data.

NNCF's ``quantize_with_accuracy_control`` quantizes, ranks groups of quantizers by how much they hurt and
reverts the worst to floating point until the metric is within ``max_drop``. What makes it fall short of
a promise, and what this module does about it:

- When it cannot reach the drop it logs a line and returns the model anyway: here the result is
  re-measured afterwards and ``BudgetNotMetError`` (an ``AccuracyBudgetError``, exit code 4) is raised
  with every number attached.
- It validates with ``INFERENCE_PRECISION_HINT=f32`` forced, while this CPU runs the reverted layers in
  bf16 by default: NNCF validates at the deployment's precision instead (``validate_at``), and the final
  check compiles the model exactly as it will be deployed.
- Its drop is ``initial - quantized`` (higher is better) from its own validation of FP32: the primary
  metric is handed over signed, with an absolute limit placed on this budget's threshold, which is
  measured from the FP32 model as true f32.
- Its report lives in the log: here the baseline, every validation's metric in order, the operations it
  reverted in order (and whether each revert was kept), and the time are fields of the result.
- NNCF 3.4 reverts the least helpful group first and restores pre-SmoothQuant weights; both are corrected
  (``ovq.compression._nncf.accuracy_control``).

NNCF steers by the first budget; every declared budget is then checked on the deployed model, and all
must hold.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ovq.compression._nncf.accuracy_control import (
    NNCF_LOCK,
    Recorder,
    RevertStep,
    ValidationCall,
    activation_quantized_operations,
    most_helpful_first_ranking,
    observing_reverts,
    validate_ignored_scope,
    validation_compiled_with,
    with_named_outputs,
)
from ovq.compression.accuracy_control_result import AccuracyControlResult, BudgetNotMetError
from ovq.compression.budget import (
    DROP_TOLERANCE,
    Budget,
    BudgetCheck,
    DropType,
    MetricLike,
    check_budget,
    check_budgets,
    metric_drop,
)
from ovq.compression.overflow import OverflowFixMode, overflow_fix_for, with_overflow_fix
from ovq.compression.scoring import inference_precision_of, inputs_of, metric_values, target_of
from ovq.errors import ConfigError
from ovq.runtime.compile import compile_for
from ovq.runtime.convert import read_model_file
from ovq.runtime.infer import infer_all

if TYPE_CHECKING:
    import nncf
    import openvino as ov

# Budget definitions live in ovq.compression.budget (cheap to import); they are part of this module's API too.
__all__ = [
    "AccuracyControlResult",
    "Budget",
    "BudgetCheck",
    "BudgetNotMetError",
    "DropType",
    "MetricLike",
    "RevertStep",
    "ValidationCall",
    "activation_quantized_operations",
    "check_budget",
    "check_budgets",
    "infer_all",
    "metric_drop",
    "quantize_with_budget",
    "validate_ignored_scope",
]

RestoreMode = Literal["activations_and_weights", "only_activations"]
RankingOrder = Literal["most_helpful_first", "nncf"]
ValidateAt = Literal["deployment", "f32"]

# ------------------------------------------------------------------------------------------ the run

# Compile properties that change scheduling, not numbers: NNCF's one-request validation does not need them.
_SCHEDULING_PROPERTIES = frozenset(
    {
        "PERFORMANCE_HINT",
        "PERFORMANCE_HINT_NUM_REQUESTS",
        "NUM_STREAMS",
        "INFERENCE_NUM_THREADS",
        "CACHE_DIR",
        "ENABLE_CPU_PINNING",
        "ENABLE_HYPER_THREADING",
        "SCHEDULING_CORE_TYPE",
        "ENABLE_MMAP",
    }
)


def quantize_with_budget(
    model: ov.Model,
    calibration: Sequence[Any],
    validation: Sequence[Any],
    budgets: Budget | Sequence[Budget],
    *,
    transform: Callable[[Any], Any] | None = None,
    device: str = "CPU",
    deploy_properties: Mapping[str, Any] | None = None,
    validate_at: ValidateAt = "deployment",
    reference_outputs: Sequence[np.ndarray] | None = None,
    subset_size: int = 300,
    preset: str | None = None,
    model_type: str | None = None,
    fast_bias_correction: bool = True,
    ignored_scope: nncf.IgnoredScope | None = None,
    ranking_subset_size: int | None = None,
    max_num_iterations: int | None = None,
    tune_hyperparams: bool = False,
    restore_mode: RestoreMode = "activations_and_weights",
    num_ranking_workers: int | None = None,
    ranking_order: RankingOrder = "most_helpful_first",
    advanced_quantization_parameters: Any = None,
    overflow_fix: OverflowFixMode | None = None,
) -> AccuracyControlResult:
    """INT8 PTQ that reverts the most harmful quantized operations to float until every budget holds.

    ``calibration``/``validation`` are dataset items (``transform`` maps an item to model inputs, default
    the first element of an ``(inputs, target)`` pair; the second is the label). Every drop is measured
    from the FP32 model compiled as true f32 (``reference_outputs``, its first output per validation item,
    skips recomputing it). ``budgets[0]`` steers NNCF; afterwards every budget is checked on the model
    compiled with ``deploy_properties`` (the compile stage's hint and precision).

    ``validate_at="deployment"`` (default) makes NNCF validate and rank with the deployment's precision,
    so its loop stops where the deployed model meets the budget; ``"f32"`` keeps NNCF's forced f32.

    Knobs: ``ranking_subset_size`` (items used to rank groups; NNCF default: ``subset_size``),
    ``max_num_iterations`` (groups reverted at most), ``restore_mode`` (``only_activations`` keeps int8
    weights on reverted layers), ``tune_hyperparams`` (NNCF tries other PTQ settings first),
    ``num_ranking_workers``, ``ranking_order`` (``most_helpful_first`` corrects NNCF 3.4's reversed
    output-mode ranking, ``nncf`` keeps it), ``overflow_fix`` (default: what this process's CPU class needs,
    so the budget is checked on the INT8 arithmetic that class runs; see ovq.compression.overflow).

    Raises ``BudgetNotMetError`` (exit code 4) with ``.result`` when any budget misses, ``ConfigError``
    for an ignored-scope entry that matches nothing or a bad knob, ``ModelFormatError`` for a model that
    is already compressed.

    >>> result = quantize_with_budget(fp32_model, calibration, validation, Budget(top1, max_drop=0.01))
    >>> result.reverted_operations
    ['__module.fc2/aten::linear/MatMul']
    """
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import RestoreMode as NNCFRestoreMode

    from ovq.compression.ptq import ptq_arguments, refuse_if_compressed

    started = time.perf_counter()
    budget_list = [budgets] if isinstance(budgets, Budget) else list(budgets)
    _check_arguments(
        budget_list, validation, validate_at, restore_mode, ranking_order, ranking_subset_size, max_num_iterations
    )
    refuse_if_compressed(model)
    model = with_named_outputs(model)

    to_inputs = transform or inputs_of
    inputs = [to_inputs(item) for item in validation]
    labels = [target_of(item) for item in validation]
    all_indices = list(range(len(inputs)))
    deploy = dict(deploy_properties or {})
    core = ov.Core()
    primary = budget_list[0]
    metrics = [b.metric for b in budget_list]

    def measure(compiled: ov.CompiledModel) -> dict[str, float]:
        return metric_values(metrics, infer_all(compiled, inputs), all_indices, labels, reference_outputs)

    # The reference is the FP32 model as true f32, whatever the deployment's precision.
    clock = time.perf_counter()
    if reference_outputs is None:
        reference_compiled = compile_for(model, {**deploy, "INFERENCE_PRECISION_HINT": "f32"}, device=device, core=core)
        reference_outputs = [outputs[0] for outputs in infer_all(reference_compiled, inputs)]
    elif len(reference_outputs) != len(inputs):
        raise ConfigError(f"{len(reference_outputs)} reference outputs for {len(inputs)} validation items")
    references = metric_values(metrics, [[r] for r in reference_outputs], all_indices, labels, reference_outputs)

    # What NNCF's loop will see of FP32: at the deployment's precision, or at f32 (then it is the reference).
    validation_properties = {"INFERENCE_PRECISION_HINT": "f32"}
    if validate_at == "deployment":
        validation_properties = {k: v for k, v in deploy.items() if k not in _SCHEDULING_PROPERTIES}
    fp32_for_validation = compile_for(model, validation_properties, device=device, core=core)
    validation_precision = inference_precision_of(fp32_for_validation)
    fp32_at_validation = references if validation_precision == "f32" else measure(fp32_for_validation)
    del fp32_for_validation
    reference_s = time.perf_counter() - clock

    # NNCF measures its drop from its own validation of FP32 and assumes higher is better. Hand it the
    # primary metric signed so that higher is better, and an absolute limit that lands exactly on this
    # budget's threshold (relative to the true-f32 reference).
    reference_value = references[primary.metric.name]
    sign = 1.0 if primary.metric.higher_is_better else -1.0
    allowed = primary.max_drop if primary.drop_type == "absolute" else primary.max_drop * abs(reference_value)
    nncf_max_drop = allowed - metric_drop(
        reference_value,
        fp32_at_validation[primary.metric.name],
        higher_is_better=primary.metric.higher_is_better,
        drop_type="absolute",
    )
    # NNCF computes a relative drop even for an absolute budget (1 - q/i): an initial value of exactly 0
    # would divide by zero. A constant shift leaves absolute drops unchanged.
    offset = 1.0 if sign * fp32_at_validation[primary.metric.name] == 0.0 else 0.0

    recorder = Recorder(full_size=len(inputs))
    base_result: dict[str, Any] = {
        "primary_metric": primary.metric.name,
        "references": references,
        "deployed_properties": deploy,
        "validation_inference_precision": validation_precision,
        "fp32_at_validation_precision": fp32_at_validation,
        "knobs": {
            "validate_at": validate_at,
            "subset_size": subset_size,
            "preset": preset,
            "model_type": model_type,
            "fast_bias_correction": fast_bias_correction,
            "ranking_subset_size": ranking_subset_size,
            "max_num_iterations": max_num_iterations,
            "tune_hyperparams": tune_hyperparams,
            "restore_mode": restore_mode,
            "num_ranking_workers": num_ranking_workers,
            "ranking_order": ranking_order,
        },
    }
    if nncf_max_drop < -DROP_TOLERANCE:
        # FP32 itself, at the precision it will run in, is already outside the budget: no quantization
        # can fix that, so do not spend the time.
        return _finish(
            model, [], budget_list, fp32_at_validation, None, recorder, set(), set(), base_result, started,
            {"reference": reference_s}, note=f"FP32 itself at inference precision {validation_precision}",
        )  # fmt: skip

    # NNCF's engine lists an output once per tensor name; per-item values must line up with that.
    name_counts = [len(output.get_names()) for output in model.outputs]

    def validation_fn(compiled: ov.CompiledModel, pairs: Any) -> tuple[float, list[list[np.ndarray]]]:
        call_started = time.perf_counter()
        listed = list(pairs)
        indices = [index for index, _ in listed]
        outputs = infer_all(compiled, [model_inputs for _, model_inputs in listed])
        value = metric_values([primary.metric], outputs, indices, labels, reference_outputs)[primary.metric.name]
        recorder.on_validation(len(indices), value, time.perf_counter() - call_started)
        # Per-item outputs (not per-item metrics) make NNCF rank groups by how far they move the outputs
        # from FP32's, which also works for set-level metrics such as nearest-neighbour agreement.
        per_item = [[v for v, count in zip(item, name_counts, strict=True) for _ in range(count)] for item in outputs]
        return sign * value + offset, per_item

    restorer_parameters = nncf.AdvancedAccuracyRestorerParameters(
        tune_hyperparams=tune_hyperparams,
        ranking_subset_size=ranking_subset_size,
        num_ranking_workers=num_ranking_workers,
        restore_mode=NNCFRestoreMode(restore_mode),
    )
    if max_num_iterations is not None:
        restorer_parameters.max_num_iterations = max_num_iterations
    kwargs = ptq_arguments(
        subset_size=min(subset_size, len(calibration)),
        fast_bias_correction=fast_bias_correction,
        preset=preset,
        model_type=model_type,
        ignored_scope=ignored_scope,
    )
    kwargs["max_drop"] = max(nncf_max_drop, 0.0) + DROP_TOLERANCE
    kwargs["drop_type"] = nncf.DropType.ABSOLUTE
    kwargs["advanced_accuracy_restorer_parameters"] = restorer_parameters
    kwargs["advanced_quantization_parameters"] = with_overflow_fix(
        advanced_quantization_parameters, overflow_fix or overflow_fix_for()
    )

    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ovq-ac-") as scratch:
        # NNCF saves the fully quantized model here before reverting anything: the "before" of the diff.
        restorer_parameters.intermediate_model_dir = scratch
        with (
            NNCF_LOCK,
            observing_reverts(recorder) as order_recorded,
            most_helpful_first_ranking(ranking_order == "most_helpful_first") as ranking_corrected,
            validation_compiled_with(validation_properties if validate_at == "deployment" else None, device),
        ):
            try:
                quantized: ov.Model = nncf.quantize_with_accuracy_control(
                    model,
                    nncf.Dataset(list(calibration), to_inputs),
                    nncf.Dataset(list(enumerate(inputs)), lambda pair: pair[1]),
                    validation_fn,
                    **kwargs,
                )
            except nncf.ValidationError as error:
                raise ConfigError(f"accuracy control: {error}".strip()) from None
        nncf_s = time.perf_counter() - clock
        before = activation_quantized_operations(read_model_file(Path(scratch) / "intermediate_model.xml"))
    after = activation_quantized_operations(quantized)
    base_result["knobs"]["ranking_order"] = ranking_order if ranking_corrected else "nncf"
    base_result["knobs"]["revert_order_recorded"] = order_recorded

    # Fail closed: measure every budget on the model compiled as it will be deployed.
    clock = time.perf_counter()
    deployed = compile_for(quantized, deploy, device=device, core=core)
    deployed_values = measure(deployed)
    f32_values = None
    deployed_misses = not all(
        check_budget(b, references[b.metric.name], deployed_values[b.metric.name]).met for b in budget_list
    )
    if inference_precision_of(deployed) != "f32" and deployed_misses:
        # Tells a precision-made miss from a quantization-made one: the same model in f32.
        f32_values = measure(
            compile_for(quantized, {**deploy, "INFERENCE_PRECISION_HINT": "f32"}, device=device, core=core)
        )
    timings = {"reference": reference_s, "nncf": nncf_s, "deployed_check": time.perf_counter() - clock}
    base_result["deployed_inference_precision"] = inference_precision_of(deployed)
    return _finish(
        quantized, recorder.steps, budget_list, deployed_values, f32_values, recorder, before, after,
        base_result, started, timings,
    )  # fmt: skip


def _check_arguments(
    budgets: list[Budget],
    validation: Sequence[Any],
    validate_at: str,
    restore_mode: str,
    ranking_order: str,
    ranking_subset_size: int | None,
    max_num_iterations: int | None,
) -> None:
    if not budgets:
        raise ConfigError("quantize_with_budget needs at least one budget")
    names = [b.metric.name for b in budgets]
    if len(set(names)) != len(names):
        raise ConfigError(f"each metric may have one budget; got {names}")
    if not validation:
        raise ConfigError("the validation dataset is empty")
    for knob, value, allowed in (
        ("validate_at", validate_at, ("deployment", "f32")),
        ("restore_mode", restore_mode, ("activations_and_weights", "only_activations")),
        ("ranking_order", ranking_order, ("most_helpful_first", "nncf")),
    ):
        if value not in allowed:
            raise ConfigError(f"{knob} must be one of {', '.join(allowed)}; got {value!r}")
    for knob, number in (("ranking_subset_size", ranking_subset_size), ("max_num_iterations", max_num_iterations)):
        if number is not None and number < 1:
            raise ConfigError(f"{knob} must be >= 1, got {number}")


def _finish(
    model: ov.Model,
    steps: list[RevertStep],
    budgets: list[Budget],
    values: dict[str, float],
    f32_values: dict[str, float] | None,
    recorder: Recorder,
    before: set[str],
    after: set[str],
    base: dict[str, Any],
    started: float,
    timings: dict[str, float],
    note: str | None = None,
) -> AccuracyControlResult:
    """Assemble the result from what was observed; raise BudgetNotMetError if any budget misses."""
    reverted_set = before - after
    order = [name for step in steps for name in step.operations]
    reverted = [name for name in dict.fromkeys(order) if name in reverted_set]
    reverted += sorted(reverted_set - set(reverted))
    # NNCF undoes a step that made things worse and may retry the same group later: only the last revert
    # of a group that is reverted in the final model counts as kept.
    seen_later: set[str] = set()
    for step in reversed(steps):
        in_final = bool(step.operations) and all(name in reverted_set for name in step.operations)
        step.kept = in_final and not seen_later.issuperset(step.operations)
        seen_later.update(step.operations)

    checks = [check_budget(b, base["references"][b.metric.name], values[b.metric.name]) for b in budgets]
    result = AccuracyControlResult(
        model=model,
        met=all(check.met for check in checks),
        checks=checks,
        deployed_values=values,
        deployed_inference_precision=base.pop("deployed_inference_precision", base["validation_inference_precision"]),
        f32_values=f32_values,
        validation_calls=recorder.calls,
        steps=steps,
        reverted_operations=reverted,
        quantized_operations_before=len(before),
        quantized_operations_after=len(after),
        timings_s={**timings, "total": time.perf_counter() - started},
        **base,
    )
    if result.met:
        return result
    missed = [check for check in checks if not check.met]
    where = note or (
        f"the deployed model (inference precision {result.deployed_inference_precision}), after reverting "
        f"{len(reverted)} of {len(before)} quantized operations in {len(steps)} steps"
    )
    raise BudgetNotMetError(
        f"accuracy budget missed by {where}: " + "; ".join(check.describe() for check in missed),
        result,
        hint=_miss_hint(result, missed, budgets, fp32_misses=note is not None),
    )


def _miss_hint(
    result: AccuracyControlResult, missed: list[BudgetCheck], budgets: list[Budget], *, fp32_misses: bool
) -> str:
    precision = result.deployed_inference_precision
    if fp32_misses:
        return f"compile with inference_precision f32: {precision} alone costs more than the budget allows"
    by_name = {budget.metric.name: budget for budget in budgets}
    if result.f32_values is not None and all(
        check_budget(by_name[c.metric], c.reference, result.f32_values[c.metric]).met for c in missed
    ):
        return f"the model meets the budget in f32 but not in {precision}: compile with inference_precision f32" + (
            ", or set validate_at: deployment" if result.knobs.get("validate_at") == "f32" else ""
        )
    if result.knobs.get("max_num_iterations") is not None:
        return "raise max_num_iterations, loosen the budget, or exclude sensitive layers with ignored_scope"
    return "loosen the budget, exclude sensitive layers (ignored_scope), try tune_hyperparams, or escalate to QAT"
