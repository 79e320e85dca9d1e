"""Speed-aware mixed precision on a real model: what is left out for speed and what is reverted for accuracy.

The model is tests.tiny_models.digits_outlier_mlp: INT8 PTQ collapses its top-1 because of fc2's input
quantizer (one outlier channel), and reverting fc2 alone recovers it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ovq.compression.budget import Budget
from ovq.compression.fq_revert import keep_float_weights, quantized_operations, revert_operations
from ovq.compression.mixed_precision import MixedPrecisionBudgetError, speed_aware_quantize
from ovq.compression.op_speed import OperationSpeed, operation_aliases, operation_speeds, profile_compiled
from ovq.compression.ptq import quantize
from ovq.errors import ConfigError
from ovq.inputs.metrics import Metric, mse, top1

FC1, FC2, FC3 = (f"__module.fc{i}/aten::linear/MatMul" for i in (1, 2, 3))
TOP1 = Metric("top1", top1, True, "labels")


@pytest.fixture(scope="module")
def outlier() -> dict[str, Any]:
    import openvino as ov
    import torch

    from tests.tiny_models import digits_outlier_mlp

    module, calibration, validation = digits_outlier_mlp()
    model = ov.convert_model(module, example_input=torch.zeros(1, 64))
    quantized = quantize(model, calibration, advanced_parameters=keep_float_weights())
    return {"model": model, "quantized": quantized, "calibration": calibration, "validation": validation[:200]}


def test_reverting_by_graph_edit_restores_float_for_that_operation_only(outlier: dict[str, Any]) -> None:
    quantized = outlier["quantized"]
    assert set(quantized_operations(quantized)) == {FC1, FC2, FC3}
    mixed = revert_operations(quantized, [FC2])
    assert set(quantized_operations(mixed)) == {FC1, FC3}
    assert set(quantized_operations(quantized)) == {FC1, FC2, FC3}  # the input model is left as it was
    with pytest.raises(KeyError, match="not quantized"):
        revert_operations(quantized, ["no such op"])


def test_per_layer_counters_give_each_operation_an_int8_and_a_default_time(outlier: dict[str, Any]) -> None:
    names = [FC1, FC2, FC3]
    example = outlier["validation"][0][0]
    speeds = operation_speeds(
        profile_compiled(outlier["quantized"], example),
        profile_compiled(outlier["model"], example),
        names,
        int8_aliases=operation_aliases(outlier["quantized"], names),
        default_aliases=operation_aliases(outlier["model"], names),
    )
    for name in names:
        assert speeds[name].int8_us is not None and speeds[name].int8_us > 0, speeds[name]
        assert speeds[name].default_us is not None and speeds[name].default_us > 0, speeds[name]
        assert speeds[name].saving_us is not None


def test_reverts_the_operation_with_the_best_gain_per_cost(outlier: dict[str, Any]) -> None:
    # Every operation faster in INT8 by the same margin (on this tiny MLP the measured margins are within
    # noise), so the order is decided by the gain: fc2's quantization error.
    speeds = {name: OperationSpeed(name, 1.0, 5.0, (), ()) for name in (FC1, FC2, FC3)}
    result = speed_aware_quantize(
        outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
        quantized_model=outlier["quantized"], speeds=speeds,
    )  # fmt: skip
    assert not result.front[0].met  # plain PTQ misses: the outlier
    assert result.met and result.reverted == [FC2] and result.left_out == []
    errors = {op["operation"]: op["quantization_error"] for op in result.operations}
    assert errors[FC2] > 10 * max(errors[FC1], errors[FC3])
    assert set(quantized_operations(result.model)) == {FC1, FC3}
    assert result.front[result.chosen].int8_operations == 2


def test_leaves_out_an_operation_that_is_slower_in_int8(outlier: dict[str, Any]) -> None:
    names = [FC1, FC2, FC3]
    example = outlier["validation"][0][0]
    measured = operation_speeds(
        profile_compiled(outlier["quantized"], example),
        profile_compiled(outlier["model"], example),
        names,
        int8_aliases=operation_aliases(outlier["quantized"], names),
        default_aliases=operation_aliases(outlier["model"], names),
    )
    # fc3 as a CPU where its INT8 kernel (plus the quantizer in front) costs more than the default: measured
    # times for the other two, fc3's INT8 time set above its default time.
    slower = dataclasses.replace(measured[FC3], int8_us=(measured[FC3].default_us or 1.0) + 50.0)
    speeds = {FC1: dataclasses.replace(measured[FC1], int8_us=1.0, default_us=5.0),
              FC2: dataclasses.replace(measured[FC2], int8_us=1.0, default_us=5.0), FC3: slower}  # fmt: skip
    result = speed_aware_quantize(
        outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
        quantized_model=outlier["quantized"], speeds=speeds,
    )  # fmt: skip
    assert result.left_out == [FC3]
    assert result.reverted == [FC2]
    assert set(quantized_operations(result.model)) == {FC1}
    decisions = {op["operation"]: op["decision"] for op in result.operations}
    assert decisions == {FC1: "INT8", FC2: "reverted for accuracy", FC3: "left out: not faster in INT8"}


def test_fails_closed_with_the_front_when_nothing_holds(outlier: dict[str, Any]) -> None:
    impossible = Budget(Metric("mse", mse, False, "reference"), 0.0)
    speeds = {name: OperationSpeed(name, 1.0, 5.0, (), ()) for name in (FC1, FC2, FC3)}  # none left out
    with pytest.raises(MixedPrecisionBudgetError) as raised:
        speed_aware_quantize(
            outlier["model"], outlier["calibration"], outlier["validation"][:50], impossible,
            quantized_model=outlier["quantized"], deploy_properties={"INFERENCE_PRECISION_HINT": "bf16"},
            speeds=speeds,
        )  # fmt: skip
    assert raised.value.exit_code == 4
    front = raised.value.result.front
    assert front and not any(point.met for point in front)
    # The most-reverted point is validated first; it misses, so no shorter prefix is tried.
    assert [point.label for point in front] == ["plain PTQ", "revert top 3"]
    assert "still misses" in raised.value.result.knobs["stopped"]


def test_a_point_that_must_beat_the_default_never_reverts_everything(outlier: dict[str, Any]) -> None:
    # Reverting every operation is the default-precision model itself: with min_speedup 1.0 it cannot win,
    # so the search validates at most all-but-one reverted (here first, then the prefixes below it). Savings
    # of 0.1 us keep every prefix estimated faster than the default. The whole-model totals are given (as
    # profiled once: INT8 ~9 us, default 12-21 us): profiling this tiny model again could put the two within
    # the 10% speed margin on a busy machine, and then no prefix would be reachable.
    speeds = {name: OperationSpeed(name, 1.0, 1.1, (), ()) for name in (FC1, FC2, FC3)}
    result = speed_aware_quantize(
        outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
        quantized_model=outlier["quantized"], speeds=speeds, totals_us=(9.0, 15.0), min_speedup=1.0,
    )  # fmt: skip
    assert max(point.reverted for point in result.front) == 2
    assert result.front[1].label == "revert top 2"  # the feasibility check comes first
    assert result.met and result.reverted == [FC2]
    assert set(quantized_operations(result.model)) == {FC1, FC3}


def test_points_not_clearly_faster_than_what_they_must_beat_are_not_validated(outlier: dict[str, Any]) -> None:
    # A speed margin of 10x: no prefix (not even plain INT8, ~9 us against 12-21 us at the default) is
    # estimated that much faster than the default, so only the starting point is validated.
    speeds = {name: OperationSpeed(name, 1.0, 1.1, (), ()) for name in (FC1, FC2, FC3)}
    with pytest.raises(MixedPrecisionBudgetError) as raised:
        speed_aware_quantize(
            outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
            quantized_model=outlier["quantized"], speeds=speeds, totals_us=(9.0, 15.0), min_speedup=1.0,
            speed_margin=10.0,
        )  # fmt: skip
    assert [point.label for point in raised.value.result.front] == ["plain PTQ"]
    assert raised.value.result.knobs["speed_margin"] == 10.0
    assert "speed bound" in raised.value.result.knobs["speed_pruned"]  # optimize records it as pruned


def test_a_negative_speed_margin_is_refused(outlier: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="speed_margin must be >= 0"):
        speed_aware_quantize(
            outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
            quantized_model=outlier["quantized"], speed_margin=-0.5,
        )  # fmt: skip
