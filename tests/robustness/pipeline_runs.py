"""Shared by the concurrency and fault tests: a tiny real pipeline run through the `ovq` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests import tiny_models

OVQ = str(Path(sys.executable).parent / "ovq")
FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"
# Measured, hence different on every run: left out when two reports are compared.
TIMING_KEYS = {
    "duration_s",
    "started_at",
    "finished_at",
    "cached",
    "benchmark",
    "compile_ms",
    "memory",
    "throughput_fps",
    "speedup_vs_reference",
    "speedup_vs_default",
    "timings_s",
    # Per-layer times and the speed warnings drawn from them are measurements too.
    "profile",
    "profile_s",
    "warnings",
    # The machine's state around the benchmark and the verdicts with their intervals.
    "machine",
    "vs_reference",
}


def write_pipeline(folder: Path, *, budget: bool = True, benchmark: bool = True) -> Path:
    config: dict[str, Any] = {
        "name": "robust",
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(folder / "data.npz"))}},
        "metrics": {"cosine": {"function": "cosine", "against": "reference"}, "top1": {"function": "top1"}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "data", "subset_size": 8},
            # Without the default-precision candidate, the deliverable (int8, the one compressed variant) does
            # not hang on which of two near-equal variants a noisy machine measured faster.
            {"stage": "compile", "hint": "latency", "default_candidate": False},
            {"stage": "evaluate", "dataset": "data"},
        ],
    }
    if budget:  # the quantize stage then runs NNCF accuracy control
        config["budget"] = {"dataset": "data", "metrics": {"cosine": {"max_drop": 0.5}}}
    if benchmark:
        # Long enough (5 repeats x 2 variants x 0.5 s) that a signal sent 0.2 s into it lands inside the measurement.
        config["stages"].append({"stage": "benchmark", "duration_s": 0.5})
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def command(pipeline: Path, run_dir: Path) -> list[str]:
    return [OVQ, "pipeline", "run", str(pipeline), "-o", str(run_dir), "-q"]


def environment(cache_root: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "OVQ_CACHE_DIR": str(cache_root), "PYTHONPATH": str(Path(__file__).parents[2]), **extra}


def run(pipeline: Path, run_dir: Path, cache_root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(pipeline, run_dir), env=environment(cache_root, **extra), capture_output=True, text=True, timeout=600
    )


def comparable(run_dir: Path) -> Any:
    """The run's report without timings, with the run folder's path replaced by a placeholder."""
    report = json.loads((run_dir / "report.json").read_text())
    return _strip(json.loads(json.dumps(report).replace(str(run_dir), "RUN")))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def leftovers(*folders: Path) -> list[Path]:
    """Hidden staging / temporary / trash files that a finished run must not leave behind."""
    return [p for folder in folders if folder.exists() for p in folder.rglob(".*")]


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two comparable reports differ, as `path: expected != actual` lines (empty when equal)."""
    if type(expected) is not type(actual):
        return [f"{path}: {expected!r:.120} != {actual!r:.120}"]
    if isinstance(expected, dict):
        return [d for k in {**expected, **actual} for d in differences(expected.get(k), actual.get(k), f"{path}.{k}")]
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items != {len(actual)}"]
        return [
            d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in differences(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {expected!r:.120} != {actual!r:.120}"]
