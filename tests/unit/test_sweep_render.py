"""The sweep report's renderings: replayed (cached) throughputs are marked; sweep.json files written before
`benchmark_cached` existed still render."""

from __future__ import annotations

import copy
from typing import Any

from ovq.sweep.render import render_html, render_markdown, variant_table
from ovq.sweep.summary import replayed_note


def point(variant: str, accuracy: float, fps: float | None, *, noisy: bool = False) -> dict[str, Any]:
    return {
        "run_id": "001-tiny",
        "variant": variant,
        "precision": "FP32" if variant == "fp32" else "INT8",
        "baseline": False,
        "metric": "top1",
        "higher_is_better": True,
        "accuracy": accuracy,
        "accuracy_drop": 0.0,
        "throughput_fps": fps,
        "latency_median_ms": 1.0,
        "size_bytes": 1000,
        "noisy": noisy,
        "budget_met": True,
        "deliverable": variant == "int8",
        "pareto": True,
    }


# A sweep.json of schema_version 1 as written before runs said whether their benchmark was replayed.
OLD_SWEEP: dict[str, Any] = {
    "schema_version": 1,
    "kind": "ovq-sweep",
    "name": "tiny-grid",
    "description": None,
    "sweep_file": "/tmp/sweep.yaml",
    "status": "succeeded",
    "exit_code": 0,
    "started_at": "2026-12-02T10:00:00+00:00",
    "finished_at": "2026-12-02T10:00:03+00:00",
    "duration_s": 3.2,
    "placement": {"executor": "local"},
    "finished_runs": ["001-tiny"],
    "machines": {"cpu | 2 cores | avx2": {"cpu": "cpu", "cpu_count": 2, "cpu_flags": ["avx2"], "nodes": ["host"]}},
    "mixed_machines": False,
    "notes": [],
    "best": {
        "tiny": {
            "run_id": "001-tiny",
            "label": "hint=latency",
            "variant": "int8",
            "accuracy": 0.5,
            "metric": "top1",
            "throughput_fps": 4321.0,
            "budget": "met",
            "rule": "fastest",
            "machines_compared": 1,
        }
    },
    "runs": [
        {
            "run_id": "001-tiny",
            "label": "hint=latency",
            "pipeline": "tiny",
            "pipeline_file": "/tmp/tiny.yaml",
            "model": "tiny",
            "overrides": {"stages.compile.hint": "latency"},
            "status": "succeeded",
            "exit_code": 0,
            "error": None,
            "run_dir": "/tmp/out/runs/001-tiny",
            "duration_s": 1.5,
            "node": {"hostname": "host", "cpu": "cpu", "cpu_count": 2, "cpu_flags": ["avx2"]},
            "machine": "cpu | 2 cores | avx2",
            "deliverable": "int8",
            "has_budget": True,
            "variants": [point("fp32", 0.5, 1234.0, noisy=True), point("int8", 0.5, 4321.0)],
        }
    ],
}


def throughputs(sweep: dict[str, Any]) -> list[str]:
    headers, rows = variant_table(sweep)
    column = headers.index("throughput fps")
    return [row[column] for row in rows]


def test_an_old_sweep_json_without_benchmark_cached_renders_unmarked() -> None:
    assert "benchmark_cached" not in OLD_SWEEP["runs"][0]
    assert throughputs(OLD_SWEEP) == ["1234 noisy", "4321"]
    markdown = render_markdown(OLD_SWEEP)
    assert "| 4321 |" in markdown and "cached" not in markdown
    html = render_html(OLD_SWEEP)
    assert "4321" in html and " cached" not in html
    assert "4321 fps, budget met" in markdown


def test_replayed_throughputs_are_marked_cached_beside_noisy_and_noted_once() -> None:
    sweep = copy.deepcopy(OLD_SWEEP)
    sweep["runs"][0]["benchmark_cached"] = True
    sweep["best"]["tiny"]["benchmark_cached"] = True
    sweep["notes"] = [replayed_note(1, 1)]
    missing = copy.deepcopy(sweep["runs"][0])
    missing.update(run_id="002-tiny", benchmark_cached=None, variants=[point("int8", 0.5, None)])
    sweep["runs"].append(missing)
    assert throughputs(sweep) == ["1234 noisy cached", "4321 cached", "–"]
    markdown = render_markdown(sweep)
    assert "| 4321 cached |" in markdown and "4321 fps (cached), budget met" in markdown
    assert markdown.count("1 of 1 benchmarked runs replayed their benchmark numbers") == 1
    assert "ovq sweep --remeasure" in markdown
    html = render_html(sweep)
    assert "4321 cached" in html and "ovq sweep --remeasure" in html
