"""How busy ovq's benchmark engine keeps the CPU, and whether the resource monitor sees it.

Goal: benchmarking a ResNet-style conv block with the throughput hint keeps the process's allowed cores
at least 80% busy (median ``cpu_utilisation`` over the repeats >= 0.80), and the monitor's share stays
physically possible (<= 1.20 of the allowed cores). Exits 1 when either is missed. These used to be
assertions in tests/unit/test_benchmark.py, where a loaded machine made them fail for the wrong reason;
on a machine shared with other work the first goal is expected to be missed (the load average is
printed beside the numbers).

    .venv/bin/python tests/perf/benchmark_cpu_share.py [--repeats 5] [--seconds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

BUSY_GOAL, POSSIBLE_LIMIT = 0.80, 1.20


def conv_model():  # type: ignore[no-untyped-def]
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, 64, 56, 56], np.float32, name="x")
    y = x
    for _ in range(4):
        weights = ops.constant(rng.standard_normal((64, 64, 3, 3)).astype(np.float32) * 0.05)
        y = ops.relu(ops.convolution(y, weights, [1, 1], [1, 1], [1, 1], [1, 1]))
    return ov.Model([y], [x], "conv_block")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    from ovq.benchmarking.engine import benchmark
    from ovq.runtime.compile import compile_model
    from ovq.runtime.resources import measure_resources

    compiled = compile_model(conv_model(), hint="throughput").compiled
    engine_shares, monitor_shares = [], []
    for _ in range(args.repeats):
        with measure_resources() as usage:
            result = benchmark(compiled, duration_s=args.seconds)
        engine_shares.append(result.cpu_utilisation or 0.0)
        monitor_shares.append(usage.cpu_utilisation or 0.0)
    engine, monitor = statistics.median(engine_shares), statistics.median(monitor_shares)
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"engine cpu_utilisation per repeat:  {[round(s, 3) for s in engine_shares]}  median {engine:.3f}")
    print(f"monitor cpu_utilisation per repeat: {[round(s, 3) for s in monitor_shares]}  median {monitor:.3f}")
    print(f"goal: median >= {BUSY_GOAL:.2f} and every repeat <= {POSSIBLE_LIMIT:.2f}; load average {load}")
    missed = []
    if engine < BUSY_GOAL:
        missed.append(f"the engine kept the cores {engine:.0%} busy (< {BUSY_GOAL:.0%})")
    if max(engine_shares + monitor_shares) > POSSIBLE_LIMIT:
        missed.append(f"a share above {POSSIBLE_LIMIT:.2f} of the allowed cores: the measurement is wrong")
    if missed:
        print("GOAL MISSED: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
