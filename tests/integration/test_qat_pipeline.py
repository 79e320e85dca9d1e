"""The qat stage through the pipeline: where PTQ misses the budget, QAT recovers it in OpenVINO, as INT8."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ovq.pipeline.runner import run_pipeline

pytestmark = pytest.mark.slow


def test_qat_stage_recovers_the_budget_ptq_misses(tmp_path: Path, repo: Path) -> None:
    config = yaml.safe_load((repo / "pipelines" / "digits_qat.yaml").read_text())
    config["model"]["recipe"] = str(repo / "models" / "digits_qat" / "recipe.py")
    config["stages"] = [s for s in config["stages"] if s["stage"] != "benchmark"]  # speed is not the point here
    path = tmp_path / "digits_qat.yaml"
    path.write_text(yaml.safe_dump(config))
    report = run_pipeline(path, output_dir=tmp_path / "run", cache=False)

    variants = {v["name"]: v for v in report["variants"]}
    assert variants["ptq_int8"]["accuracy"]["drop"] > 0.03
    assert variants["qat_int8"]["accuracy"]["drop"] <= 0.01  # measured by the evaluate stage, in OpenVINO
    assert report["deliverable"] == "qat_int8"
    history = next(s for s in report["stages"] if s["name"] == "qat")["details"]["qat"]["history"]
    assert history[0]["epoch"] == 0 and len(history) >= 2  # calibrated model first, then training epochs

    import openvino as ov

    from ovq.runtime.execution_precision import execution_precision_summary

    compiled = ov.Core().compile_model(variants["qat_int8"]["model_path"], "CPU")
    assert execution_precision_summary(compiled).compute_int8_share == 1.0
