"""compile.targets / --target: every variant measured per CPU class in ISA-capped workers, a deliverable per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ovq.cli.app import app
from ovq.pipeline.runner import run_pipeline
from ovq.runtime.cpu_class import CLASSES, active_class, cpu_class, kernels_above
from tests import tiny_models

pytestmark = pytest.mark.cpu_class

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"
HERE = active_class()
ABOVE = next((c for c in CLASSES if c.rank > HERE.rank and c.name != "avx2_vnni"), None)
BELOW = next((c for c in CLASSES if c.rank < HERE.rank and c.name == "avx2"), None)


def write_pipeline(folder: Path, targets: list[str] | None = None) -> Path:
    compile_stage: dict[str, Any] = {"stage": "compile"}
    if targets is not None:
        compile_stage["targets"] = targets
    config = {
        "name": "targets",
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(folder / "data.npz", count=32))}},
        "metrics": {"top1": {"function": "top1"}},
        "budget": {"dataset": "data", "metrics": {"top1": {"max_drop": 1.0}}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "data", "subset_size": 16},
            compile_stage,
            {"stage": "evaluate", "dataset": "data"},
            {"stage": "benchmark", "iterations": 50, "repeats": 2, "profile": False},
        ],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("targets")
    targets = ["native", HERE.name, *([BELOW.name] if BELOW else []), *([ABOVE.name] if ABOVE else [])]
    return run_pipeline(write_pipeline(folder, targets), output_dir=folder / "run", cache=False)


def by_target(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["target"]: entry for entry in report["targets"]}


def test_native_and_the_hosts_own_class_agree_and_each_gets_a_deliverable(report: dict[str, Any]) -> None:
    targets = by_target(report)
    native, capped = targets["native"], targets[HERE.name]
    assert native["status"] == capped["status"] == "measured"
    assert native["deliverable"] is not None and capped["deliverable"] is not None
    assert native["deliverable"] == report["deliverable"]
    # Capping to the class the host already is changes no kernel: the same outputs, so the same scores.
    for name, numbers in native["variants"].items():
        assert capped["variants"][name]["accuracy"]["top1"]["value"] == numbers["accuracy"]["top1"]["value"], name
    assert capped["variants"]["fp32"]["inference_precision"] == "f32"  # the reference stays true f32
    assert all(not kernels_above(HERE, kernels) for kernels in capped["kernels"].values())
    assert "not that machine's absolute FPS" in capped["how"]


@pytest.mark.skipif(ABOVE is None, reason="no class above this host")
def test_a_class_above_the_host_is_not_measurable_here_and_has_no_numbers(report: dict[str, Any]) -> None:
    assert ABOVE is not None
    entry = by_target(report)[ABOVE.name]
    assert entry["status"] == "not_measurable_here" and entry["variants"] == {}
    assert f"{ABOVE.name} is above this host ({HERE.name})" in entry["reason"]


@pytest.mark.skipif(BELOW is None, reason="this host is the lowest class (avx2): nothing below to emulate")
def test_avx2_emulated_from_a_higher_host_runs_only_avx2_kernels_at_f32(report: dict[str, Any]) -> None:
    entry = by_target(report)["avx2"]
    assert entry["status"] == "measured", entry.get("reason")
    assert all(not kernels_above(cpu_class("avx2"), kernels) for kernels in entry["kernels"].values())
    assert "fp32-default" not in entry["variants"]  # at f32 the default is the reference itself
    assert entry["variants"]["fp32"]["role"] == "default_precision"
    assert {v["inference_precision"] for v in entry["variants"].values()} <= {"f32"}


def test_every_view_shows_the_targets(report: dict[str, Any]) -> None:
    run_dir = Path(report["run_dir"])
    markdown = (run_dir / "report.md").read_text()
    assert "## Targets" in markdown and f"| {HERE.name} |" in markdown
    assert "<h2>Targets</h2>" in (run_dir / "report.html").read_text()
    assert markdown.count("CPU class: ") == 1 and f"CPU class: {HERE.name}" in markdown


def test_an_unknown_target_is_a_one_line_config_error(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    result = CliRunner().invoke(app, ["pipeline", "run", str(path), "-o", str(tmp_path / "run"), "--target", "avx3"])
    assert result.exit_code == 2, result.output
    assert "unknown CPU class(es) avx3" in result.output and "Traceback" not in result.output


def test_the_weakest_target_decides_the_overflow_fix(report: dict[str, Any]) -> None:
    import numpy as np
    import openvino as ov

    # Every fixture run answers for avx2 (the host itself or a target below it): no VNNI there, so half range.
    quantize = next(s for s in report["stages"] if s["kind"] == "quantize")
    assert quantize["details"]["overflow_fix"] == "enable"
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    model = ov.Core().read_model(int8["model_path"])
    levels = [
        int(np.max(np.abs(op.get_data().astype(np.int32))))
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant" and op.get_output_element_type(0) == ov.Type.i8
    ]
    assert levels and max(levels) <= 64, levels


def test_benchmark_answers_for_each_target_class(report: dict[str, Any], tmp_path: Path) -> None:
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    targets = ["native", HERE.name, *([ABOVE.name] if ABOVE else [])]
    out = tmp_path / "bench.json"
    args = ["benchmark", int8["model_path"], "-niter", "200", "-q", "--json", str(out), "--target", ",".join(targets)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    import json

    entries = {entry["target"]: entry for entry in json.loads(out.read_text())["targets"]}
    assert "native" not in entries  # the command's own run is the native one
    own = entries[HERE.name]
    assert own["status"] == "measured" and own["throughput_fps"] > 0
    assert kernels_above(HERE, own["kernels"]) == []
    assert f"{HERE.name}: " in result.output and "emulated by capping the ISA" in result.output
    if ABOVE is not None:
        assert entries[ABOVE.name]["status"] == "not_measurable_here" and "throughput_fps" not in entries[ABOVE.name]
