"""Two nightly jobs on one history/--out at once, and the deliverable rule for NaN outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from ovq.config.schema import parse_pipeline
from ovq.pipeline.context import RunContext, Variant
from ovq.pipeline.deliverable import enforce_budget
from tests import tiny_models
from tests.robustness.cases import run_config, write_npz

REPO = Path(__file__).resolve().parents[2]


def test_two_nightly_jobs_on_one_output_never_interleave(tmp_path: Path) -> None:
    """Both succeed (one after the other) or one is refused "in use"; never both writing at once."""
    pipelines = tmp_path / "pipes"
    pipelines.mkdir()
    write_npz(pipelines)
    (pipelines / "job.yaml").write_text(yaml.safe_dump(run_config()))
    command = [
        sys.executable, "-m", "ovq.cli.app", "nightly", str(pipelines), "--out", str(tmp_path / "out"),
        "--history", str(tmp_path / "h.sqlite"), "--no-plots",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OVQ_CACHE_DIR": str(tmp_path / "cache")}
    jobs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [(job.wait(timeout=600), job.stdout.read() if job.stdout else "") for job in jobs]
    codes = sorted(code for code, _ in outputs)
    refused = [text for code, text in outputs if code == 6]
    assert codes in ([0, 0], [0, 6]), outputs
    for text in refused:
        assert "is in use by another ovq nightly job" in text and "Traceback" not in text
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert junit.count("<testcase") == 1  # one job's complete file, not two interleaved


def _variant(tmp_path: Path, name: str, value: float, non_finite: int = 0) -> Variant:
    xml = tiny_models.write_ir(tmp_path / f"{name}.xml")
    accuracy = {"metric": "top1", "value": value, "reference": 0.9, "drop": 0.9 - value}
    if non_finite:
        accuracy["non_finite_outputs"] = non_finite
    return Variant(name=name, precision="int8", source="fp32", model_path=xml, accuracy={"top1": accuracy})


def test_a_variant_with_nan_outputs_is_never_the_deliverable(tmp_path: Path) -> None:
    config = parse_pipeline(
        {
            "name": "d",
            "model": {"ir": "m.xml"},
            "datasets": {"v": {"path": "v.npz"}},
            "metrics": {"top1": {"function": "top1"}},
            "budget": {"dataset": "v", "metrics": {"top1": {"max_drop": 0.5}}, "select": "smallest"},
            "stages": [{"stage": "export"}, {"stage": "compile"}, {"stage": "evaluate", "dataset": "v"}],
        }
    )
    ctx = RunContext(config=config, base_dir=tmp_path, run_dir=tmp_path, config_digest="x")
    ctx.variants["fp32"] = _variant(tmp_path, "fp32", 0.9)
    ctx.variants["nan_int8"] = _variant(tmp_path, "nan_int8", 0.95, non_finite=3)  # "scores" better, is NaN
    ctx.variants["int8"] = _variant(tmp_path, "int8", 0.85)
    block = enforce_budget(ctx).block
    assert block["deliverable"] == "int8"
    assert block["variants"]["nan_int8"] == {"met": False, "checks": [], "disqualified": "NaN/Inf outputs on 3 items"}
