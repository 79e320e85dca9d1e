"""ovq optimize --target: the search quantizes for the weakest target and the run answers for each one.

Not rerun under each capped class (no cpu_class marker): the targets it names are measured in capped workers
already, and the capped reruns keep to the class-dependent tests of issue 25 (tests/integration/test_targets.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from ovq.cli.app import app
from tests import tiny_models
from tests.integration.test_targets import FACTORY, by_target


def test_optimize_answers_for_its_targets_and_quantizes_for_the_weakest(tmp_path: Path) -> None:
    import json

    data = tiny_models.write_npz(tmp_path / "data.npz", count=32)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["optimize", FACTORY, "--data", str(data), "--budget", "top1=1.0", "--no-qat", "-o", str(run_dir),
         "--target", "native,avx2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pipeline = yaml.safe_load((run_dir / "pipeline.yaml").read_text())
    compile_stage = next(s for s in pipeline["stages"] if s["stage"] == "compile")
    assert compile_stage["targets"] == ["native", "avx2"]
    written = json.loads((run_dir / "report.json").read_text())
    entries = by_target(written)
    assert entries["avx2"]["status"] == "measured" and entries["avx2"]["deliverable"] is not None
    # avx2 has no VNNI: the search's INT8 candidates carry half-range weights, whatever this host has.
    optimize_stage = next(s for s in written["stages"] if s["kind"] == "optimize")
    assert optimize_stage["details"]["overflow_fix"] == "enable"
    assert [t["target"] for t in json.loads(result.stdout)["targets"]] == compile_stage["targets"]
