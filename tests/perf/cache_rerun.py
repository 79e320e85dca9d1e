"""Cached and nightly reruns: how much of the first run's time an unchanged rerun costs.

    .venv/bin/python tests/perf/cache_rerun.py [pipelines/quickstart.yaml]

Three runs of the same pipeline through the real `ovq` command, each a fresh process, with a stage cache
of their own (the recipe's trained weights are built beforehand so no run pays for training):
  1. first run (empty stage cache),
  2. unchanged rerun (goal: <= 5% of the first),
  3. nightly-style rerun: everything reused except the benchmark, which is re-measured.

Goal: the unchanged rerun takes <= 5% of the first run's time. Exits 1 when it does not, and 2 when
the runs did not do what they are timed for: the first run must compute every stage (none from the
cache) and the rerun must take every stage from the cache (reports' ``cached`` flags).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OVQ = Path(sys.executable).parent / "ovq"


def timed_run(pipeline: Path, out: Path, env: dict[str, str], *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(OVQ), "pipeline", "run", str(pipeline), "-o", str(out), "-q", *extra],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def nightly_run(pipeline: Path, out: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(OVQ), "nightly", str(pipeline), "--out", str(out), "--no-history", "--no-plots"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # its exit code is a gate verdict, not a failure of this script
    return time.perf_counter() - started


GOAL = 0.05


def cached_flags(run_dir: Path) -> list[bool]:
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    return [bool(stage.get("cached")) for stage in report["stages"] if stage.get("kind") != "budget"]


def main() -> int:
    pipeline = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "pipelines" / "quickstart.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "OVQ_CACHE_DIR": str(root / "cache")}
        timed_run(pipeline, root / "warm", env, "--no-cache")  # recipe weights only; no stage cache
        first = timed_run(pipeline, root / "first", env)
        rerun = timed_run(pipeline, root / "rerun", env)
        nightly = nightly_run(pipeline, root / "nightly", env)
        first_cached, rerun_cached = cached_flags(root / "first"), cached_flags(root / "rerun")
    print(f"pipeline: {pipeline.name}")
    print(f"first run (empty stage cache): {first:7.2f} s   stages from cache {first_cached}")
    print(f"unchanged rerun:               {rerun:7.2f} s   stages from cache {rerun_cached}")
    print(f"  ratio {rerun / first:.3f}   goal <= {GOAL:.2f}")
    print(f"nightly rerun (re-benchmarks): {nightly:7.2f} s   ratio {nightly / first:.3f}")
    if any(first_cached) or not all(rerun_cached):
        print("NOT MEASURED: the first run must compute every stage and the rerun reuse every one", file=sys.stderr)
        return 2
    if rerun / first > GOAL:
        print(f"GOAL MISSED: the unchanged rerun took {rerun / first:.1%} of the first run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
