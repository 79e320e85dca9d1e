"""Wall time of the same 8-run sweep with the local executor and with Ray on this one machine.

Goal: Ray's overhead (starting a local instance, worker processes importing openvino/nncf, moving reports
and IRs through the object store) stays within 15% of the local executor. Runs are interleaved
(local, ray, local, ray, ...) and the median of the paired ratios is compared with the goal; exit 1 when
it is missed. The stage cache is off so both executors do all the work.

    PYTHONPATH=. python tests/perf/sweep_overhead.py [--pairs 2]

Numbers from a shared, loaded machine are noisy: say so when quoting them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.15


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")
    os.environ.setdefault("NNCF_TELEMETRY_DISABLE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from ovq.sweep.executors import LocalExecutor
    from ovq.sweep.ray_executor import RayExecutor
    from ovq.sweep.runner import run_sweep
    from tests.sweep_helpers import EIGHT_RUNS, write_sweep, write_tiny_pipeline

    folder = Path(tempfile.mkdtemp(prefix="ovq-sweep-overhead-"))
    pipeline = write_tiny_pipeline(folder)
    sweep_file = write_sweep(folder, EIGHT_RUNS, pipelines=[pipeline.name])
    times: dict[str, list[float]] = {"local": [], "ray": []}
    for index in range(args.pairs):
        for name in ("local", "ray"):
            executor = LocalExecutor() if name == "local" else RayExecutor()
            started = time.perf_counter()
            sweep = run_sweep(sweep_file, out_dir=folder / f"{name}-{index}", executor=executor, cache=False)
            elapsed = time.perf_counter() - started
            assert sweep["status"] == "succeeded", sweep["runs"]
            times[name].append(elapsed)
            print(f"pair {index + 1} {name:5s} {elapsed:7.1f} s", flush=True)
    ratios = [ray / local for local, ray in zip(times["local"], times["ray"], strict=True)]
    ratio = statistics.median(ratios)
    print(f"local median {statistics.median(times['local']):.1f} s, ray median {statistics.median(times['ray']):.1f} s")
    print(f"paired ratios ray/local: {', '.join(f'{r:.3f}' for r in ratios)}; median {ratio:.3f} (goal <= {GOAL})")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
