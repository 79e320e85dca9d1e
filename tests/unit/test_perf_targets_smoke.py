"""tests/perf/targets.py --smoke: the per-class perf script runs end to end (so it cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "perf" / "targets.py"


@pytest.mark.slow
def test_the_targets_perf_script_runs_in_smoke_mode(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "smoke: goals not judged" in done.stdout
    assert "capped / native" in done.stdout and "deliverable:" in done.stdout
