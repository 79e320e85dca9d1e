"""The escalation ladder: cheapest method first, every rung recorded with why the ladder went on or stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ovq.pipeline.runner import run_pipeline


def ladder(tmp_path: Path, repo: Path, **escalate: Any) -> list[dict[str, Any]]:
    config = yaml.safe_load((repo / "pipelines" / "digits_escalate.yaml").read_text())
    config["model"]["recipe"] = str(repo / "models" / "digits_qat" / "recipe.py")
    stage = next(s for s in config["stages"] if s["stage"] == "escalate")
    stage.update(escalate, speed_check_s=0.3)
    config["stages"] = [s for s in config["stages"] if s["stage"] != "benchmark"]
    path = tmp_path / "escalate.yaml"
    path.write_text(yaml.safe_dump(config))
    report = run_pipeline(path, output_dir=tmp_path / "run", cache=False)
    assert report["deliverable"] == "int8"
    rungs: list[dict[str, Any]] = next(s for s in report["stages"] if s["kind"] == "escalate")["details"]["rungs"]
    return rungs


def test_accuracy_aware_ptq_is_taken_when_fast_enough(tmp_path: Path, repo: Path) -> None:
    rungs = ladder(tmp_path, repo, rungs=["ptq", "accuracy_aware_ptq"], min_speedup=0.01)
    assert [(r["rung"], r["outcome"]) for r in rungs] == [("ptq", "budget missed"), ("accuracy_aware_ptq", "chosen")]
    assert rungs[0]["checks"][0]["drop"] > 0.03
    assert rungs[1]["reverted_operations"] and rungs[1]["speedup_vs_f32"] > 0.01


@pytest.mark.slow
def test_ladder_climbs_to_qat_when_reverts_cost_too_much_speed(tmp_path: Path, repo: Path) -> None:
    rungs = ladder(tmp_path, repo, min_speedup=100.0)
    assert [(r["rung"], r["outcome"]) for r in rungs] == [
        ("ptq", "budget missed"),
        ("accuracy_aware_ptq", "too slow"),
        ("qat", "chosen"),
    ]
    assert "min_speedup 100.00x" in rungs[1]["reason"]
    assert rungs[2]["checks"][0]["met"] is True
    assert all(isinstance(r["duration_s"], float) for r in rungs)
