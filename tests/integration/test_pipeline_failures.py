"""Each way a run can go wrong: a clear message, a distinct exit code, a failed report, no half artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ovq.cli.app import app
from tests import tiny_models

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"


def write_pipeline(tmp_path: Path, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "name": "failure",
        "model": {"factory": FACTORY},
        "datasets": {"calibration": {"path": str(tiny_models.write_npz(tmp_path / "calib.npz"))}},
        "stages": [{"stage": "export"}, {"stage": "quantize", "dataset": "calibration", "subset_size": 8}],
    }
    config.update(overrides)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(pipeline: Path, run_dir: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["pipeline", "run", str(pipeline), "-o", str(run_dir), "-q", *options])
    return result.exit_code, " ".join(result.output.split())


def assert_nothing_half_written(run_dir: Path) -> None:
    leftovers = [p for p in run_dir.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def assert_failed_report(run_dir: Path, error_type: str, stage: str) -> dict[str, Any]:
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["error"]["type"] == error_type
    assert report["error"]["stage"] == stage
    assert report["error"]["hint"]
    assert report["stages"][-1]["status"] == "failed"
    return report


def test_data_that_does_not_fit_fails_before_calibration(tmp_path: Path) -> None:
    bad = tiny_models.write_npz(tmp_path / "bad.npz", shape=(1, 3, 8, 8))
    pipeline = write_pipeline(
        tmp_path,
        datasets={"calibration": {"path": str(bad)}},
        stages=[
            {"stage": "export", "input_shapes": [[1, 3, 16, 16]]},
            {"stage": "quantize", "dataset": "calibration", "subset_size": 8},
        ],
    )
    code, output = run(pipeline, tmp_path / "run")
    assert code == 8
    assert "input 'input' expects shape [1,3,16,16], the data has [1, 3, 8, 8]" in output
    assert output.startswith("error [quantize]: dataset 'calibration'")
    assert "hint:" in output
    assert_failed_report(tmp_path / "run", "DataMismatchError", "quantize")
    assert not list((tmp_path / "run" / "stages").glob("*quantize*"))
    assert_nothing_half_written(tmp_path / "run")


def test_missing_onnx_file(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, model={"onnx": "missing.onnx"})
    code, output = run(pipeline, tmp_path / "run")
    assert code == 6
    assert "model file not found" in output and "missing.onnx" in output
    assert_failed_report(tmp_path / "run", "InputFileError", "export")
    assert not (tmp_path / "run" / "stages").exists()


def test_truncated_ir(tmp_path: Path) -> None:
    xml = tiny_models.write_ir(tmp_path / "model.xml")
    xml.write_text(xml.read_text()[: len(xml.read_text()) // 2])
    pipeline = write_pipeline(tmp_path, model={"ir": str(xml)})
    code, output = run(pipeline, tmp_path / "run")
    assert code == 7
    assert f"cannot read {xml}" in output
    assert_failed_report(tmp_path / "run", "ModelFormatError", "export")


def test_ir_without_weights(tmp_path: Path) -> None:
    xml = tiny_models.write_ir(tmp_path / "model.xml")
    xml.with_suffix(".bin").unlink()
    code, output = run(write_pipeline(tmp_path, model={"ir": str(xml)}), tmp_path / "run")
    assert code == 6
    assert "has no weights file model.bin beside it" in output


def test_factory_that_does_not_exist(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path, model={"factory": f"{tiny_models.__file__}:no_such_model"})
    code, output = run(pipeline, tmp_path / "run")
    assert code == 2
    assert "has no callable named 'no_such_model'" in output
    assert "tiny_cnn" in output  # the hint lists what is there


def test_ignored_scope_that_matches_nothing(tmp_path: Path) -> None:
    pipeline = write_pipeline(
        tmp_path,
        stages=[
            {"stage": "export"},
            {
                "stage": "quantize",
                "dataset": "calibration",
                "subset_size": 8,
                "ignored_scope": {"names": ["nope"]},
            },
        ],
    )
    code, output = run(pipeline, tmp_path / "run")
    assert code == 2
    assert "ignored_scope" in output and "nope" in output
    assert_nothing_half_written(tmp_path / "run")


def test_quantizing_a_quantized_ir_is_refused(tmp_path: Path) -> None:
    first = tmp_path / "first"
    code, _ = run(write_pipeline(tmp_path), first)
    assert code == 0
    int8_xml = next((first / "stages").glob("*quantize*/model.xml"))
    code, output = run(write_pipeline(tmp_path, model={"ir": str(int8_xml)}), tmp_path / "second")
    assert code == 7
    assert "refusing to quantize this model: it already has FakeQuantize operations" in output


def test_the_ir_carries_provenance(tmp_path: Path) -> None:
    import openvino as ov

    # --fresh: a cached IR carries the provenance of the run that produced it, not of this one.
    code, _ = run(write_pipeline(tmp_path), tmp_path / "run", "--fresh")
    assert code == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    model = ov.Core().read_model(report["variants"][1]["model_path"])
    assert model.get_rt_info(["ovq", "config_hash"]).astype(str) == report["config_digest"]
    assert model.get_rt_info(["ovq", "stage"]).astype(str) == "quantize"


@pytest.mark.parametrize("source", ["onnx", "ir"])
def test_onnx_and_ir_sources_export(tmp_path: Path, source: str) -> None:
    path = tiny_models.write_onnx(tmp_path / "m.onnx") if source == "onnx" else tiny_models.write_ir(tmp_path / "m.xml")
    code, output = run(write_pipeline(tmp_path, model={source: str(path)}), tmp_path / "run")
    assert code == 0, output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [v["precision"] for v in report["variants"]] == ["fp32", "int8"]
    assert report["stages"][1]["details"]["fake_quantize_ops"] > 0
