"""kill -9 and SIGTERM at points spread over a run, then the same command again: the same final report
(apart from timings) and nothing left behind in the run folder or the cache.

The suite runs a spread of cases; `OVQ_FAULT_MATRIX=full` runs every point with both signals.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.robustness.pipeline_runs import comparable, differences, leftovers, run, write_pipeline

# (fault point, delay in seconds): where the run is when the signal lands.
POINTS = [
    ("stage:export", ""),  # before the model is built
    ("progress:quantizing", "@0.5"),  # inside NNCF accuracy control
    ("progress:evaluating", ""),
    ("progress:benchmarking", "@0.2"),  # inside the benchmark loop
    ("cache:store", ""),  # an entry staged in the cache, not yet in place
    ("report:final", ""),  # every stage done, the final report not yet written
]
QUICK = [
    ("progress:quantizing", "@0.5", "KILL"),
    ("progress:benchmarking", "@0.2", "TERM"),
    ("cache:store", "", "KILL"),
    ("report:final", "", "TERM"),
]
FULL = [(point, delay, sig) for point, delay in POINTS for sig in ("KILL", "TERM")]
CASES = FULL if os.environ.get("OVQ_FAULT_MATRIX") == "full" else QUICK


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, list[str]]:
    folder = tmp_path_factory.mktemp("reference")
    pipeline = write_pipeline(folder)
    done = run(pipeline, folder / "run", folder / "cache")
    assert done.returncode == 0, done.stderr
    files = sorted(str(p.relative_to(folder / "run")) for p in (folder / "run").rglob("*"))
    return pipeline, comparable(folder / "run"), files


@pytest.mark.slow
@pytest.mark.parametrize(("point", "delay", "sig"), CASES, ids=[f"{s}-{p}" for p, _, s in CASES])
def test_fault_then_rerun(
    tmp_path: Path, reference: tuple[Path, Any, list[str]], point: str, delay: str, sig: str
) -> None:
    pipeline, expected, expected_files = reference
    run_dir, cache_root = tmp_path / "run", tmp_path / "cache"
    faulted = run(pipeline, run_dir, cache_root, OVQ_FAULT_INJECT=f"{point}={sig}{delay}")
    if sig == "KILL":
        assert faulted.returncode == -signal.SIGKILL, faulted.stderr
    else:
        assert faulted.returncode == 128 + signal.SIGTERM, faulted.stderr
        report = json.loads((run_dir / "report.json").read_text())
        assert report["status"] == "failed" and report["error"]["type"] == "Terminated"
    if (run_dir / "report.json").exists():  # whatever the fault left, the report never claims success
        assert json.loads((run_dir / "report.json").read_text())["status"] in ("running", "failed")

    again = run(pipeline, run_dir, cache_root)
    assert again.returncode == 0, again.stderr
    assert differences(expected, comparable(run_dir)) == []
    assert sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")) == expected_files
    assert leftovers(run_dir, cache_root / "stages") == []
    assert all((entry / "record.json").is_file() for entry in (cache_root / "stages").iterdir())
