"""tests/perf/noise_robustness.py --smoke: the noise-robustness perf script runs end to end (so it cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "perf" / "noise_robustness.py"


@pytest.mark.slow
def test_the_noise_robustness_perf_script_runs_in_smoke_mode() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "smoke: ran every part" in done.stdout
    for part in ("identical pairs called a tie", "30% slowdown called slower", "nightly:", "quiet protocol time"):
        assert part in done.stdout
