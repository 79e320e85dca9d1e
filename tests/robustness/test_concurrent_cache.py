"""8 runs sharing one stage cache at once, round after round: no failure, the same report every time.

The suite runs 2 rounds (a cold cache, where every process races to store the same keys, then a warm one);
the issue's full check is `OVQ_CONCURRENCY_ROUNDS=5 pytest tests/robustness/test_concurrent_cache.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.robustness.pipeline_runs import command, comparable, differences, environment, leftovers, write_pipeline

PROCESSES = 8


@pytest.mark.slow
def test_parallel_runs_share_one_cache(tmp_path: Path) -> None:
    rounds = int(os.environ.get("OVQ_CONCURRENCY_ROUNDS", "2"))
    pipeline = write_pipeline(tmp_path, budget=True, benchmark=True)
    cache_root = tmp_path / "cache"
    expected = None
    for round_index in range(rounds):
        if round_index % 2 == 0:
            shutil.rmtree(cache_root, ignore_errors=True)  # cold: every process computes and stores each key
        run_dirs = [tmp_path / f"round{round_index}" / f"run{i}" for i in range(PROCESSES)]
        processes = [
            subprocess.Popen(
                command(pipeline, run_dir),
                env=environment(cache_root),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for run_dir in run_dirs
        ]
        failures = []
        for run_dir, process in zip(run_dirs, processes, strict=True):
            _, stderr = process.communicate(timeout=900)
            if process.returncode != 0:
                failures.append(f"{run_dir.name}: exit {process.returncode}: {stderr[-2000:]}")
        assert failures == [], f"round {round_index}"
        for run_dir in run_dirs:
            report = comparable(run_dir)
            expected = expected or report
            assert differences(expected, report) == [], f"round {round_index}, {run_dir.name}"
        assert leftovers(cache_root / "stages", *run_dirs) == []
        entries = [p for p in (cache_root / "stages").iterdir()]
        assert entries and all((entry / "record.json").is_file() for entry in entries)
