"""Tiny sweeps for the sweep tests: an IR of tests/tiny_models.py (fast to load), short benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests import tiny_models


def write_tiny_pipeline(folder: Path, name: str = "tiny", **extra: Any) -> Path:
    """A pipeline on the tiny CNN's IR: export (read) -> quantize -> compile -> evaluate -> benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "tiny.xml").exists():
        tiny_models.write_ir(folder / "tiny.xml")
        tiny_models.write_npz(folder / "data.npz", count=16)
    config: dict[str, Any] = {
        "name": name,
        "model": {"ir": "tiny.xml"},
        "datasets": {"data": {"path": "data.npz"}},
        "metrics": {"top1": {"function": "top1"}},
        "budget": {"dataset": "data", "metrics": {"top1": {"max_drop": 0.5}}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "data", "subset_size": 8, "accuracy_control": {"enabled": False}},
            {"stage": "compile", "hint": "latency"},
            {"stage": "evaluate", "dataset": "data"},
            {"stage": "benchmark", "iterations": 30},
        ],
        **extra,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_sweep(folder: Path, grid: dict[str, list[Any]], *, pipelines: list[str], **extra: Any) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(
        yaml.safe_dump({"name": "tiny-grid", "pipelines": pipelines, "grid": grid, **extra}, sort_keys=False)
    )
    return path


EIGHT_RUNS = {
    "stages.quantize.preset": ["performance", "mixed"],
    "stages.quantize.subset_size": [4, 8],
    "stages.compile.hint": ["latency", "throughput"],
}


def comparable(sweep: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must not depend on the executor: each run's status, exit code, variants and their accuracy.

    Not the IR size: OpenVINO numbers the operations it creates per process (Constant_96509), so the XML
    of the same model differs by a few bytes between a fresh worker and a long-lived process.
    """
    return [
        (
            run["run_id"],
            run["status"],
            run["exit_code"],
            tuple((p["variant"], p["precision"], p["accuracy"], p["budget_met"]) for p in run["variants"]),
        )
        for run in sweep["runs"]
    ]
