"""Accuracy budgets on a tiny model where plain INT8 PTQ fails for a known reason.

The model is an MLP on sklearn's digits (random ReLU features, least-squares read-out: deterministic and
built in milliseconds, no training loop). Its first hidden layer carries one extra channel that is
always 300 and that the next layer ignores (zero weights): FP32 does not notice it, but the per-tensor
u8 quantizer in front of the second MatMul must span 0..300, so the real features (0..~5) collapse to a
few levels and top-1 falls from ~93% to ~44%. Reverting exactly that MatMul to floating point recovers it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from ovq.compression.accuracy_control import (
    Budget,
    BudgetNotMetError,
    activation_quantized_operations,
    check_budget,
    check_budgets,
    quantize_with_budget,
    validate_ignored_scope,
)
from ovq.errors import AccuracyBudgetError, ConfigError
from ovq.inputs.metrics import Metric, mse, top1

HIDDEN = 96
OUTLIER = 300.0
FC1, FC2, FC3 = (f"__module.fc{i}/aten::linear/MatMul" for i in (1, 2, 3))

TOP1 = Metric("top1", top1, True, "labels")
MSE_VS_FP32 = Metric("mse_vs_fp32", mse, False, "reference")


@pytest.fixture(scope="module")
def digits_mlp() -> tuple[Any, list[tuple[np.ndarray, int]], list[tuple[np.ndarray, int]]]:
    import openvino as ov
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    train, validation = order[540:], order[:540]

    rng = np.random.default_rng(1)
    w1 = rng.normal(0, 1 / 8, (64, HIDDEN)).astype(np.float32)
    b1 = rng.normal(0, 0.3, HIDDEN).astype(np.float32)
    w2 = rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, HIDDEN)).astype(np.float32)
    b2 = rng.normal(0, 0.3, HIDDEN).astype(np.float32)
    hidden = np.maximum(np.maximum(images[train] @ w1 + b1, 0) @ w2 + b2, 0)
    design = np.c_[hidden, np.ones(len(hidden))]
    one_hot = np.eye(10, dtype=np.float32)[labels[train]]
    readout = np.linalg.solve(design.T @ design + 1e-2 * np.eye(design.shape[1]), design.T @ one_hot)
    readout = readout.astype(np.float32)

    class OutlierMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(64, HIDDEN + 1)
            self.fc2 = torch.nn.Linear(HIDDEN + 1, HIDDEN)
            self.fc3 = torch.nn.Linear(HIDDEN, 10)
            with torch.no_grad():
                self.fc1.weight[:HIDDEN] = torch.from_numpy(w1.T)
                self.fc1.bias[:HIDDEN] = torch.from_numpy(b1)
                self.fc1.weight[HIDDEN] = 0.0
                self.fc1.bias[HIDDEN] = OUTLIER
                self.fc2.weight[:, :HIDDEN] = torch.from_numpy(w2.T)
                self.fc2.weight[:, HIDDEN] = 0.0
                self.fc2.bias[:] = torch.from_numpy(b2)
                self.fc3.weight[:] = torch.from_numpy(readout[:-1].T)
                self.fc3.bias[:] = torch.from_numpy(readout[-1])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))  # type: ignore[no-any-return]

    model = ov.convert_model(OutlierMLP().eval(), example_input=torch.zeros(1, 64))
    calibration = [(images[i : i + 1], int(labels[i])) for i in train[:300]]
    validation_items = [(images[i : i + 1], int(labels[i])) for i in validation]
    return model, calibration, validation_items


# ------------------------------------------------------------------------------------------ pure checks


def test_check_budget_directions_and_drop_types() -> None:
    higher = check_budget(Budget(TOP1, 0.01), reference=0.95, value=0.935)
    assert not higher.met and higher.drop == pytest.approx(0.015) and higher.missed_by == pytest.approx(0.005)

    lower = check_budget(Budget(MSE_VS_FP32, 0.5, "relative"), reference=2.0, value=2.8)
    assert lower.met and lower.drop == pytest.approx(0.4)
    assert not check_budget(Budget(MSE_VS_FP32, 0.5, "relative"), reference=2.0, value=3.2).met
    # Getting better is a negative drop, whatever the direction.
    assert check_budget(Budget(MSE_VS_FP32, 0.0), reference=2.0, value=1.0).drop == pytest.approx(-1.0)


def test_check_budget_exactly_at_the_limit_holds() -> None:
    # 1.0 - 0.99 is 0.010000000000000009 in binary floating point; "at most 0.01" must still hold.
    assert check_budget(Budget(TOP1, 0.01), reference=1.0, value=0.99).met
    assert not check_budget(Budget(TOP1, 0.01), reference=1.0, value=0.9899).met


def test_check_budget_relative_with_zero_reference_and_nan() -> None:
    assert check_budget(Budget(MSE_VS_FP32, 0.1, "relative"), reference=0.0, value=0.0).met
    assert not check_budget(Budget(MSE_VS_FP32, 0.1, "relative"), reference=0.0, value=1e-6).met
    assert not check_budget(Budget(TOP1, 1.0), reference=0.9, value=float("nan")).met


def test_check_budgets_by_name_and_bad_budgets() -> None:
    checks = check_budgets(
        [Budget(TOP1, 0.01), Budget(MSE_VS_FP32, 0.001)],
        references={"top1": 0.9, "mse_vs_fp32": 0.0},
        values={"top1": 0.895, "mse_vs_fp32": 0.01},
    )
    assert [c.met for c in checks] == [True, False]
    with pytest.raises(ConfigError, match="max_drop must be >= 0"):
        Budget(TOP1, -0.1)
    with pytest.raises(ConfigError, match="drop_type"):
        Budget(TOP1, 0.1, "percent")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ ignored scope


def test_ignored_scope_entry_that_matches_nothing_is_named(digits_mlp: Any) -> None:
    model = digits_mlp[0]
    with pytest.raises(ConfigError) as caught:
        validate_ignored_scope(
            model,
            names=[FC2, "__module.fc9/aten::linear/MatMul"],
            patterns=["nothing.*"],
            types=["Convolution"],
        )
    message = caught.value.message
    assert "ignored_scope.names[1] '__module.fc9/aten::linear/MatMul' matches no operation" in message
    assert "did you mean" in message and FC2 not in message.split("names[1]")[0]
    assert "ignored_scope.patterns[0] 'nothing.*'" in message
    assert "ignored_scope.types[0] 'Convolution'" in message


def test_ignored_scope_that_matches_is_returned(digits_mlp: Any) -> None:
    scope = validate_ignored_scope(digits_mlp[0], names=[FC2], types=["MatMul"])
    assert scope is not None and scope.names == [FC2] and scope.types == ["MatMul"]
    assert validate_ignored_scope(digits_mlp[0]) is None


# ------------------------------------------------------------------------------------------ accuracy control


def test_plain_ptq_misses_and_accuracy_control_recovers_by_reverting_the_outlier_layer(
    digits_mlp: Any,
) -> None:
    model, calibration, validation = digits_mlp
    result = quantize_with_budget(
        model,
        calibration,
        validation,
        Budget(TOP1, 0.01),
        deploy_properties={"PERFORMANCE_HINT": "THROUGHPUT"},
    )

    assert result.met
    baseline, plain = result.references["top1"], result.plain_ptq_value
    assert plain is not None and baseline - plain > 0.3, "plain PTQ must lose clearly more than the budget"
    assert result.checks[0].drop <= 0.01
    # The most helpful group first: one revert, of the layer behind the outlier channel.
    assert result.reverted_operations == [FC2]
    assert [step.operations for step in result.steps] == [[FC2]] and result.steps[0].kept
    assert result.steps[0].value == pytest.approx(baseline, abs=0.01)
    assert (result.quantized_operations_before, result.quantized_operations_after) == (3, 2)
    assert activation_quantized_operations(result.model) == {FC1, FC3}
    assert [call.phase for call in result.validation_calls if call.items == len(validation)] == [
        "initial",
        "quantized",
        "step 1",
    ]
    assert result.deployed_inference_precision in ("f32", "bf16", "f16")
    assert result.timings_s["total"] >= result.timings_s["nncf"] > 0
    report = json.loads(json.dumps(result.to_dict()))
    assert report["accuracy_control"]["reverted_operations"] == [FC2]
    assert report["checks"][0]["met"] is True


def test_nncf_ranking_order_reverts_the_least_helpful_first(digits_mlp: Any) -> None:
    # Guards the correction in _most_helpful_first_ranking: if NNCF fixes its order, this fails and the
    # correction must go.
    model, calibration, validation = digits_mlp
    result = quantize_with_budget(model, calibration, validation, Budget(TOP1, 0.01), ranking_order="nncf")
    assert result.met
    assert result.steps[0].operations != [FC2]
    assert FC2 in result.reverted_operations and len(result.reverted_operations) > 1


def test_lower_is_better_metric_steers_nncf(digits_mlp: Any) -> None:
    # NNCF assumes higher is better; handed raw, an MSE that rises from 0 would look like an improvement
    # and nothing would be reverted.
    model, calibration, validation = digits_mlp
    result = quantize_with_budget(model, calibration, validation, Budget(MSE_VS_FP32, 0.01))
    assert result.met
    assert result.references["mse_vs_fp32"] == 0.0
    assert result.plain_ptq_value is not None and result.plain_ptq_value > 0.01
    assert FC2 in result.reverted_operations
    assert 0.0 <= result.deployed_values["mse_vs_fp32"] <= 0.01


def test_reverting_smoothquant_layers_restores_fp32_exactly(digits_mlp: Any) -> None:
    # SmoothQuant scales weights and leaves a Multiply on their inputs; a revert must restore the scaled
    # weight (NNCF 3.4 alone restores the original one: MSE ~27,000 after reverting everything).
    model, calibration, validation = digits_mlp
    result = quantize_with_budget(
        model,
        calibration,
        validation,
        Budget(MSE_VS_FP32, 0.0),
        model_type="transformer",
        deploy_properties={"INFERENCE_PRECISION_HINT": "f32"},
    )
    assert any("smooth_quant" in op.get_friendly_name() for op in result.model.get_ops())
    assert result.quantized_operations_after == 0 and len(result.reverted_operations) == 3
    assert result.deployed_values["mse_vs_fp32"] < 1e-9


def test_ignored_scope_avoids_the_loss_without_reverts(digits_mlp: Any) -> None:
    model, calibration, validation = digits_mlp
    scope = validate_ignored_scope(model, names=[FC2])
    result = quantize_with_budget(model, calibration, validation, Budget(TOP1, 0.01), ignored_scope=scope)
    assert result.met and result.steps == [] and result.reverted_operations == []
    assert result.quantized_operations_before == 2


def test_budget_that_cannot_be_met_fails_closed_with_the_data(digits_mlp: Any) -> None:
    model, calibration, validation = digits_mlp
    # Any quantized layer moves the outputs, and only one revert is allowed: MSE 0 is out of reach.
    with pytest.raises(BudgetNotMetError) as caught:
        quantize_with_budget(
            model,
            calibration,
            validation,
            Budget(MSE_VS_FP32, 0.0),
            max_num_iterations=1,
            deploy_properties={"INFERENCE_PRECISION_HINT": "f32"},
        )
    error = caught.value
    assert isinstance(error, AccuracyBudgetError) and error.exit_code == 4
    assert "mse_vs_fp32" in error.message and "over by" in error.message
    assert "max_num_iterations" in error.hint
    result = error.result
    assert not result.met and result.checks[0].missed_by > 0
    assert len(result.steps) == 1 and result.knobs["max_num_iterations"] == 1
    assert result.to_dict()["met"] is False


def test_every_declared_metric_must_hold(digits_mlp: Any) -> None:
    model, calibration, validation = digits_mlp
    # NNCF steers by top-1 and meets it; the second budget (no output change at all) is checked after.
    with pytest.raises(BudgetNotMetError) as caught:
        quantize_with_budget(model, calibration, validation, [Budget(TOP1, 0.01), Budget(MSE_VS_FP32, 0.0)])
    checks = {check.metric: check for check in caught.value.result.checks}
    assert checks["top1"].met and not checks["mse_vs_fp32"].met
    assert "top1" not in caught.value.message.split("—")[0]


def _skip_without_bf16() -> None:
    import openvino as ov

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16: deployed and f32 precision coincide")


def test_nncf_validates_at_the_deployment_precision(digits_mlp: Any) -> None:
    _skip_without_bf16()
    model, calibration, validation = digits_mlp
    result = quantize_with_budget(
        model, calibration, validation, Budget(TOP1, 0.01), deploy_properties={"INFERENCE_PRECISION_HINT": "bf16"}
    )
    assert result.met and result.reverted_operations == [FC2]
    assert result.validation_inference_precision == "bf16" == result.deployed_inference_precision
    assert abs(result.fp32_at_validation_precision["top1"] - result.references["top1"]) < 0.02


def test_fp32_already_outside_the_budget_at_the_deployment_precision_fails_fast(digits_mlp: Any) -> None:
    _skip_without_bf16()
    model, calibration, validation = digits_mlp
    with pytest.raises(BudgetNotMetError) as caught:
        quantize_with_budget(
            model,
            calibration,
            validation,
            Budget(MSE_VS_FP32, 1e-9),
            deploy_properties={"INFERENCE_PRECISION_HINT": "bf16"},
        )
    result = caught.value.result
    assert "FP32 itself at inference precision bf16" in caught.value.message
    assert "inference_precision f32" in caught.value.hint
    assert result.steps == [] and result.validation_calls == []
    # Nothing was quantized: the model handed back is FP32, without a single FakeQuantize.
    assert result.quantized_operations_before == result.quantized_operations_after == 0
    assert not [op for op in result.model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
    assert result.fp32_at_validation_precision["mse_vs_fp32"] > 1e-9


def test_budget_is_checked_at_the_deployed_precision(digits_mlp: Any) -> None:
    _skip_without_bf16()
    model, calibration, validation = digits_mlp
    # validate_at="f32" is NNCF's own behaviour: reverting every layer gives exactly FP32's outputs in f32
    # (MSE 0), which NNCF accepts; deployed in bf16 the same model does not, and the run must fail.
    with pytest.raises(BudgetNotMetError) as caught:
        quantize_with_budget(
            model,
            calibration,
            validation,
            Budget(MSE_VS_FP32, 1e-9),
            deploy_properties={"INFERENCE_PRECISION_HINT": "bf16"},
            validate_at="f32",
        )
    result = caught.value.result
    assert result.deployed_inference_precision == "bf16" and result.validation_inference_precision == "f32"
    assert result.validation_calls[-1].value <= 1e-9, "NNCF's own f32 validation met the budget"
    assert result.f32_values is not None and result.f32_values["mse_vs_fp32"] <= 1e-9
    assert result.deployed_values["mse_vs_fp32"] > 1e-9
    assert "bf16" in caught.value.message
    assert "inference_precision f32" in caught.value.hint and "validate_at: deployment" in caught.value.hint


def test_bad_knobs_and_compressed_input_are_refused(digits_mlp: Any) -> None:
    from ovq.compression.weights import compress_weights
    from ovq.errors import ModelFormatError

    model, calibration, validation = digits_mlp
    with pytest.raises(ConfigError, match="ranking_subset_size must be >= 1"):
        quantize_with_budget(model, calibration, validation, Budget(TOP1, 0.01), ranking_subset_size=0)
    with pytest.raises(ConfigError, match="restore_mode"):
        quantize_with_budget(model, calibration, validation, Budget(TOP1, 0.01), restore_mode="all")  # type: ignore[arg-type]
    with pytest.raises(ModelFormatError, match="already compressed"):
        quantize_with_budget(compress_weights(model, mode="int8_sym"), calibration, validation, Budget(TOP1, 0.01))
