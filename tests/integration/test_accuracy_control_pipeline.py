"""Accuracy-aware quantization through the pipeline, on a model where plain PTQ clearly misses the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ovq.errors import AccuracyBudgetError
from ovq.pipeline.runner import run_pipeline
from tests.cpu import needs_bf16

RECIPE = str(Path(__file__).resolve().parents[2] / "models" / "digits_qat" / "recipe.py")


def pipeline(
    tmp_path: Path,
    metrics: dict[str, Any],
    budget: dict[str, Any],
    control: dict[str, Any],
    precision: str = "bf16",
    default_candidate: bool = True,
) -> Path:
    config: dict[str, Any] = {
        "name": "accuracy-control",
        "model": {"recipe": RECIPE},
        "datasets": {"calibration": {"split": "calibration"}, "validation": {"split": "validation"}},
        "metrics": metrics,
        "budget": {"dataset": "validation", "metrics": budget},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "name": "ptq_int8", "dataset": "calibration", "accuracy_control": {"enabled": False}},
            {"stage": "quantize", "name": "int8", "dataset": "calibration", "accuracy_control": control},
            {
                "stage": "compile",
                "hint": "latency",
                "inference_precision": precision,
                "default_candidate": default_candidate,
            },
            {"stage": "evaluate", "dataset": "validation"},
        ],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_accuracy_control_recovers_what_plain_ptq_loses(tmp_path: Path) -> None:
    path = pipeline(tmp_path, {"top1": {"function": "top1"}}, {"top1": {"max_drop": 0.01}}, {"max_iterations": 4})
    report = run_pipeline(path, output_dir=tmp_path / "run", cache=False)
    variants = {v["name"]: v for v in report["variants"]}
    assert variants["ptq_int8"]["accuracy"]["drop"] > 0.03  # plain PTQ misses the 1-point budget clearly
    assert variants["int8"]["accuracy"]["drop"] <= 0.01
    assert report["budget"]["variants"]["ptq_int8"]["met"] is False
    assert report["deliverable"] == "int8"
    story = next(s for s in report["stages"] if s["name"] == "quantize:int8")["details"]["accuracy_control"]
    assert story["met"] is True
    assert 1 <= len(story["accuracy_control"]["reverted_operations"]) < 4
    assert story["accuracy_control"]["validations"]  # every NNCF validation, as data


def test_unreachable_budget_fails_closed_with_the_story(tmp_path: Path) -> None:
    # INT8 outputs never equal FP32 exactly, and one revert cannot bring all layers back to float.
    metrics = {"top1": {"function": "top1"}, "mse": {"function": "mse", "against": "reference"}}
    budget = {"mse": {"max_drop": 0.0}, "top1": {"max_drop": 0.01}}
    # f32 deployment: FP32 itself meets a zero-MSE budget, so the INT8 model is what misses it. Only the
    # compressed variants are candidates: where the plugin's default is f32, FP32 itself would be delivered.
    path = pipeline(tmp_path, metrics, budget, {"max_iterations": 1}, precision="f32", default_candidate=False)
    with pytest.raises(AccuracyBudgetError) as caught:
        run_pipeline(path, output_dir=tmp_path / "run", cache=False)
    assert caught.value.exit_code == 4
    import json

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["status"] == "failed" and report["deliverable"] is None
    assert report["error"]["stage"] == "budget"
    # The variant that missed is kept with its story (what was tried, by how much it missed) ...
    story = next(s for s in report["stages"] if s["name"] == "quantize:int8")["details"]["accuracy_control"]
    assert story["met"] is False
    assert any(check["metric"] == "mse" and not check["met"] for check in story["checks"])
    assert story["accuracy_control"]["validations"]
    # ... but nothing that misses is ever the deliverable.
    verdicts = report["budget"]["variants"]
    assert verdicts["int8"]["met"] is False and verdicts["ptq_int8"]["met"] is False


@pytest.mark.cpu_class
@needs_bf16
def test_fp32_missing_the_budget_as_deployed_fails_at_once(tmp_path: Path) -> None:
    # bf16 deployment: even FP32 differs from its f32 outputs, so a zero-MSE budget cannot hold at all.
    metrics = {"mse": {"function": "mse", "against": "reference"}}
    path = pipeline(tmp_path, metrics, {"mse": {"max_drop": 0.0}}, {"max_iterations": 1}, precision="bf16")
    with pytest.raises(AccuracyBudgetError):
        run_pipeline(path, output_dir=tmp_path / "run", cache=False)
    import json

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["error"]["stage"] == "quantize:int8"
    assert report["stages"][-1]["details"]["accuracy_control"]["met"] is False
