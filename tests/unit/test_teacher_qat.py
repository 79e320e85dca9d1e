"""Teacher-guided QAT: fine-tuning at full INT8 against the FP32 model's own outputs, no labels needed."""

from __future__ import annotations

import numpy as np
import pytest

from ovq.compression.qat.torch_glue import freeze_parameters, resolve_loss
from ovq.compression.qat.train import QatBudgetError, train_qat
from ovq.errors import ConfigError


def test_distillation_losses_compare_with_the_teacher() -> None:
    import torch

    outputs = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(resolve_loss("distill_cosine")(outputs, outputs * 3.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(resolve_loss("distill_cosine")(outputs, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))) == pytest.approx(1.0)
    assert float(resolve_loss("distill_mse")(outputs, outputs + 1.0)) == pytest.approx(1.0)


def test_freeze_stops_matching_parameters_and_names_a_pattern_that_matches_nothing() -> None:
    from tests.tiny_models import digits_outlier_mlp_module

    module = digits_outlier_mlp_module()
    assert freeze_parameters(module, [r"^fc1\."]) == (2, 6)
    assert not module.fc1.weight.requires_grad and module.fc2.weight.requires_grad
    with pytest.raises(ConfigError, match="match no parameter"):
        freeze_parameters(module, ["embeddings"])


def test_teacher_qat_reduces_the_distillation_gap_without_labels() -> None:
    from tests.tiny_models import digits_outlier_mlp

    module, calibration, validation = digits_outlier_mlp()
    # No labels anywhere: the items carry None, the metric compares with the FP32 outputs.
    unlabeled_train = [(inputs, None) for inputs, _ in calibration]
    unlabeled_validation = [(inputs, None) for inputs, _ in validation[:100]]

    def gap(outputs: list[np.ndarray], teacher: list[np.ndarray]) -> float:
        """Mean squared distance to the FP32 outputs (lower is better)."""
        return float(np.mean([np.mean((o - t) ** 2) for o, t in zip(outputs, teacher, strict=True)]))

    with pytest.raises(QatBudgetError) as raised:  # a zero drop cannot hold: it trains the whole allowance
        train_qat(
            module,
            train_data=unlabeled_train,
            validation_data=unlabeled_validation,
            calibration_data=unlabeled_train,
            max_drop=0.0,
            metric=gap,
            higher_is_better=False,
            teacher="fp32",
            loss="distill_mse",
            # fc2's weights stay: training them would give the outlier column (zero in FP32) a say.
            freeze=[r"^fc2\.weight$"],
            epochs=2,
            batch_size=32,
            learning_rate=1e-3,
            torch_threads=1,
        )
    history = raised.value.history
    assert history[0].epoch == 0 and history[0].metric is not None
    # The calibrated INT8 model is far from FP32 (the outlier quantizer); distillation brings it closer.
    assert raised.value.result.reference == pytest.approx(0.0, abs=1e-9)
    best = min(row.metric for row in history if row.metric is not None)
    assert best < 0.6 * history[0].metric, [row.metric for row in history]
    assert module.fc1.weight.requires_grad  # the caller's module is not frozen, only the trained copy


def test_unknown_teacher_is_a_config_error() -> None:
    from tests.tiny_models import digits_outlier_mlp

    module, calibration, validation = digits_outlier_mlp()
    with pytest.raises(ConfigError, match="teacher"):
        train_qat(
            module, train_data=calibration, validation_data=validation[:10], calibration_data=calibration,
            max_drop=0.1, teacher="int4",  # type: ignore[arg-type]
        )  # fmt: skip


def _unlabeled_qat_pipeline(**qat: object) -> dict[str, object]:
    return {
        "name": "teacher",
        "model": {"recipe": "minilm"},
        "datasets": {"calibration": {"split": "calibration"}, "validation": {"split": "validation", "limit": 40}},
        "metrics": {"cosine": {"function": "cosine", "against": "reference"}},
        "budget": {"dataset": "validation", "metrics": {"cosine": {"max_drop": 0.005}}},
        "stages": [
            {"stage": "export"},
            {"stage": "qat", "train_dataset": "calibration", "calibration_dataset": "calibration", **qat},
            {
                "stage": "escalate", "name": "ladder", "dataset": "calibration", "rungs": ["ptq", "qat"],
                "qat": {"train_dataset": "calibration", "calibration_dataset": "calibration", **qat},
            },
            {"stage": "compile"},
            {"stage": "evaluate", "dataset": "validation"},
        ],
    }  # fmt: skip


def test_qat_stage_and_ladder_accept_a_teacher_for_metrics_against_the_reference() -> None:
    from ovq.config.schema import parse_pipeline

    config = parse_pipeline(_unlabeled_qat_pipeline(teacher="fp32", loss="distill_cosine", freeze=["embeddings"]))
    assert config.stages[1].teacher == "fp32"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="teacher: fp32"):
        parse_pipeline(_unlabeled_qat_pipeline())
