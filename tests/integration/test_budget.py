"""The accuracy budget is a promise: met -> a named deliverable; missed -> exit 4, the misses in the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ovq.cli.app import app
from tests import tiny_models
from tests.cpu import PLUGIN_DEFAULT

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"


def write_pipeline(tmp_path: Path, budget: dict[str, Any]) -> Path:
    config: dict[str, Any] = {
        "name": "budget",
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(tmp_path / "data.npz"))}},
        "metrics": {
            "cosine": {"function": "cosine", "against": "reference"},
            "mse": {"function": "mse", "against": "reference"},
        },
        "budget": budget,
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "data", "subset_size": 8},
            # The budget mechanics alone: the default-precision candidate has its own tests.
            {"stage": "compile", "hint": "latency", "default_candidate": False},
            {"stage": "evaluate", "dataset": "data"},
            {"stage": "benchmark", "iterations": 20},
        ],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(path: Path, run_dir: Path) -> tuple[int, str, dict[str, Any]]:
    result = CliRunner().invoke(app, ["pipeline", "run", str(path), "-o", str(run_dir), "-q"])
    return (
        result.exit_code,
        " ".join(result.output.split()),
        json.loads((run_dir / "report.json").read_text()),
    )


@pytest.mark.cpu_class
def test_budget_met_names_the_deliverable(tmp_path: Path) -> None:
    budget = {"dataset": "data", "metrics": {"cosine": {"max_drop": 0.2}}}
    code, output, report = run(write_pipeline(tmp_path, budget), tmp_path / "run")
    assert code == 0, output
    assert report["budget"]["met"] is True
    assert report["deliverable"] == "int8"
    verdict = report["budget"]["variants"]["int8"]
    # Checked as deployed: the plugin's default precision on this CPU class (bf16 where it has it, else f32).
    assert verdict["met"] is True and verdict["inference_precision"] == PLUGIN_DEFAULT
    assert verdict["checks"][0]["metric"] == "cosine"


def test_budget_missed_fails_closed(tmp_path: Path) -> None:
    # INT8 outputs cannot match FP32 exactly: an MSE budget of zero is unreachable.
    budget = {"dataset": "data", "metrics": {"cosine": {"max_drop": 0.2}, "mse": {"max_drop": 0.0}}}
    code, output, report = run(write_pipeline(tmp_path, budget), tmp_path / "run")
    assert code == 4
    # NNCF's own progress bars may come first: the quantize stage runs again, its key holds the budget.
    assert "error [budget]: no variant meets the accuracy budget (int8: mse drop" in output
    assert report["status"] == "failed"
    assert report["deliverable"] is None
    assert report["budget"]["met"] is False
    checks = {c["metric"]: c for c in report["budget"]["variants"]["int8"]["checks"]}
    assert checks["cosine"]["met"] is True
    assert checks["mse"]["met"] is False and checks["mse"]["missed_by"] > 0
    assert report["error"]["type"] == "AccuracyBudgetError"


def test_budget_without_an_evaluation_is_a_config_error(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, {"dataset": "data", "metrics": {"cosine": {"max_drop": 0.1}}})
    config = yaml.safe_load(path.read_text())
    config["stages"] = [s for s in config["stages"] if s["stage"] != "evaluate"]
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["pipeline", "validate", str(path)])
    assert result.exit_code == 2
    assert "budget: no evaluate stage measures ['cosine'] on 'data'" in " ".join(result.output.split())
