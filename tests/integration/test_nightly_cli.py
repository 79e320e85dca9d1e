"""`ovq nightly` end to end on a tiny real pipeline: history, baselines, gates, CI files, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from ovq.cli.app import app
from ovq.nightly.history import HistoryStore
from tests import tiny_models

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"


def write_pipeline(folder: Path, name: str) -> Path:
    config: dict[str, Any] = {
        "name": name,
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(folder / "data.npz"))}},
        "metrics": {"top1": {"function": "top1"}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "data", "subset_size": 8},
            {"stage": "compile", "hint": "latency"},
            {"stage": "evaluate", "dataset": "data"},
            {"stage": "benchmark", "iterations": 50},
        ],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def nightly(*args: str) -> tuple[int, str]:
    # Speed gates are wide open here: a 50-iteration benchmark on a shared machine is noise, and these
    # tests are about recording and accuracy gating (speed gating is tested in tests/unit/test_baseline.py).
    loose_speed = ["--throughput-drop", "0.95", "--latency-rise", "20"]
    result = CliRunner().invoke(app, ["nightly", *args, *loose_speed])
    return result.exit_code, result.output


def test_nightly_records_history_and_gates_against_a_pinned_baseline(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write_pipeline(jobs, "tiny")
    history = tmp_path / "history.sqlite"
    code, output = nightly(str(jobs), "--out", str(tmp_path / "n1"), "--history", str(history), "--no-plots")
    assert code == 0, output
    code, output = nightly(str(jobs), "--out", str(tmp_path / "n2"), "--history", str(history), "--no-plots")
    assert code == 0, output
    runs = HistoryStore(history, create=False).list()
    assert [run.pipeline for run in runs] == ["tiny", "tiny"]
    nights = [run.variants[1].accuracy for run in runs]
    measured = nights[0]
    # top-1 on the 16 items of data.npz: a fraction k/16, the same both nights (same model, same data).
    assert isinstance(measured, float) and 0.0 <= measured <= 1.0 and (measured * 16).is_integer()
    assert nights[1] == measured

    # A pinned reference that the model no longer reaches: an accuracy regression, exit 10.
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        yaml.safe_dump(
            {
                "schema_version": 1,
                "tolerances": {"accuracy_drop": 0.0},
                "pipelines": {"tiny": {"variants": {"int8": {"accuracy": measured + 0.2}}}},
            }
        )
    )
    code, output = nightly(
        str(jobs),
        "--out",
        str(tmp_path / "n3"),
        "--history",
        str(history),
        "--baseline",
        str(baseline),
        "--no-plots",
    )
    assert code == 10, output
    assert "FAILED tiny" in " ".join(output.split())
    junit = ET.parse(tmp_path / "n3" / "junit.xml").getroot()
    failures = [case for case in junit.iter("testcase") if case.find("failure") is not None]
    assert any("accuracy" in case.get("name", "") for case in failures)
    assert "❌" in (tmp_path / "n3" / "summary.md").read_text()


def test_one_broken_pipeline_does_not_stop_the_others(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write_pipeline(jobs, "good")
    (jobs / "broken.yaml").write_text("name: broken\nmodel: {recipe: digits}\nstages: [{stage: export, typo: 1}]\n")
    code, output = nightly(
        str(jobs), "--out", str(tmp_path / "n"), "--history", str(tmp_path / "h.sqlite"), "--no-plots"
    )
    assert code == 2, output
    result = json.loads((tmp_path / "n" / "nightly.json").read_text())
    outcomes = {p["pipeline"]: (p["status"], p["exit_code"]) for p in result["pipelines"]}
    assert outcomes == {"good": ("succeeded", 0), "broken": ("failed", 2)}
