"""Cached and resumable stages: reuse when nothing changed, invalidation when something did, kill -9 safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ovq.pipeline.cache import StageCache
from ovq.pipeline.runner import run_pipeline
from ovq.runtime import environment as environment_module
from tests import tiny_models

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"


def pipeline_file(tmp_path: Path, *, subset_size: int = 8, duration_s: float = 0.3) -> Path:
    config: dict[str, Any] = {
        "name": "cache",
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(tmp_path / "data.npz"))}},
        "metrics": {"top1": {"function": "top1"}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "data", "subset_size": subset_size},
            {"stage": "compile", "hint": "latency"},
            {"stage": "evaluate", "dataset": "data"},
            {"stage": "benchmark", "duration_s": duration_s},
        ],
    }
    path = tmp_path / f"pipeline-{subset_size}-{duration_s}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cached(report: dict[str, Any]) -> dict[str, bool]:
    return {stage["name"]: stage["cached"] for stage in report["stages"]}


def test_unchanged_rerun_reuses_every_stage(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    first = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    second = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache)
    assert not any(cached(first).values())
    assert all(cached(second).values())
    for a, b in zip(first["variants"], second["variants"], strict=True):
        assert a["accuracy"] == b["accuracy"] and a["benchmark"] == b["benchmark"]
        assert Path(b["model_path"]).is_file() and str(tmp_path / "b") in b["model_path"]
    fresh = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "c", cache=cache, fresh=True)
    assert not any(cached(fresh).values())


def test_config_change_invalidates_from_that_stage_on(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    changed = run_pipeline(pipeline_file(tmp_path, subset_size=4), output_dir=tmp_path / "b", cache=cache)
    assert cached(changed)["export"] is True
    assert cached(changed)["quantize"] is False


def test_library_upgrade_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StageCache(tmp_path / "cache")
    run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    real = environment_module.environment()
    monkeypatch.setattr("ovq.pipeline.cache.environment", lambda: {**real, "nncf": "999.0"})
    upgraded = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache)
    assert not any(cached(upgraded).values())


def test_nightly_remeasures_speed_but_reuses_the_rest(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    nightly = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache, remeasure=("benchmark",))
    assert cached(nightly) == {
        "export": True,
        "quantize": True,
        "compile": True,
        "evaluate": True,
        "benchmark": False,
    }


def test_a_shared_cache_replays_no_measurement_from_another_kind_of_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = StageCache(tmp_path / "cache")
    run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    here = environment_module.machine_identity()
    other = {**here, "cpu_flags": [*here["cpu_flags"], "amx_int8"], "cpu": "another CPU"}
    monkeypatch.setattr("ovq.pipeline.stages.base.machine_identity", lambda: other)
    elsewhere = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache)
    # The IR files are the same anywhere; what was measured on them is only true where it was measured.
    assert cached(elsewhere) == {
        "export": True,
        "quantize": True,
        "compile": True,
        "evaluate": False,
        "benchmark": False,
    }


@pytest.mark.slow
def test_kill_9_mid_stage_then_resume(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache-root"
    pipeline = pipeline_file(tmp_path, duration_s=8)
    env = {**os.environ, "OVQ_CACHE_DIR": str(cache_dir)}
    ovq = Path(sys.executable).parent / "ovq"
    process = subprocess.Popen(
        [str(ovq), "pipeline", "run", str(pipeline), "-o", str(tmp_path / "killed"), "-q"], env=env
    )
    stages = cache_dir / "stages"
    deadline = time.monotonic() + 120
    # Export, quantize, compile and the variant scores are stored; the benchmark (8 s) is under way.
    while time.monotonic() < deadline:
        entries = [p for p in stages.glob("*") if not p.name.startswith(".")] if stages.exists() else []
        if len(entries) >= 4:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    entries = [p for p in stages.iterdir() if not p.name.startswith(".")]
    assert entries and all((p / "record.json").is_file() for p in entries)  # no torn entry
    # The killed run's report is the one written first: it says "running", never "succeeded".
    assert json.loads((tmp_path / "killed" / "report.json").read_text())["status"] == "running"

    resumed = subprocess.run(
        [
            str(ovq),
            "pipeline",
            "run",
            # A short benchmark: what is tested is the replay of the four stored stages, not the measurement.
            str(pipeline_file(tmp_path, duration_s=0.3)),
            "-o",
            str(tmp_path / "resumed"),
            "--json",
            "-q",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((tmp_path / "resumed" / "report.json").read_text())
    assert cached(report) == {
        "export": True,
        "quantize": True,
        "compile": True,
        "evaluate": True,
        "benchmark": False,
    }
    assert report["status"] == "succeeded"


def test_editing_ovq_invalidates_cached_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StageCache(tmp_path / "cache")
    run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    # What an edit of any ovq source file does to the key (the digest itself is tested in the unit tests).
    monkeypatch.setattr("ovq.pipeline.cache.ovq_source_digest", lambda: "edited")
    edited = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache)
    assert not any(cached(edited).values())


def test_run_folders_share_no_file_with_the_cache_and_paths_stay_in_their_run(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    first = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    fp32_a = Path(first["variants"][0]["model_path"]).with_suffix(".bin")
    original = fp32_a.read_bytes()
    # A user edits the FP32 weights of run a in place (same inode: with hard links this reached the cache).
    with fp32_a.open("r+b") as handle:
        handle.write(b"\xff" * 64)
    second = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache)
    assert all(cached(second).values())
    fp32_b = Path(second["variants"][0]["model_path"]).with_suffix(".bin")
    assert fp32_b.read_bytes() == original
    assert fp32_b.stat().st_ino != fp32_a.stat().st_ino
    assert [v["accuracy"] for v in second["variants"]] == [v["accuracy"] for v in first["variants"]]
    export_details = second["stages"][0]["details"]
    assert export_details["model_path"] == str(fp32_b.with_suffix(".xml"))
    for variant in second["variants"]:
        assert variant["model_path"].startswith(str(tmp_path / "b")), variant["model_path"]


def test_a_corrupted_entry_is_dropped_and_recomputed(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    first = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "a", cache=cache)
    bins = list((tmp_path / "cache").glob("*/files/model.bin"))
    assert len(bins) == 2  # the export's and the quantize stage's IR
    for path in bins:
        path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    notes: list[str] = []

    class Notes:
        def stage_started(self, name: str) -> None: ...

        def stage_finished(self, record: dict[str, Any]) -> None: ...

        def note(self, message: str) -> None:
            notes.append(message)

        def progress(self, description: str, total: float | None) -> Any:
            import contextlib

            return contextlib.nullcontext(lambda completed: None)

    second = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "b", cache=cache, reporter=Notes())
    assert cached(second)["export"] is False
    assert any("corrupted" in note for note in notes)
    assert [v["accuracy"] for v in second["variants"]] == [v["accuracy"] for v in first["variants"]]
    third = run_pipeline(pipeline_file(tmp_path), output_dir=tmp_path / "c", cache=cache)
    assert all(cached(third).values())  # recomputed entries were stored again


def test_pipeline_run_marks_replayed_benchmarks_and_remeasure_measures_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ovq.cli.app import app
    from ovq.report.rows import CACHED_NOTE

    monkeypatch.setenv("OVQ_CACHE_DIR", str(tmp_path / "cache-root"))
    config = {
        "name": "remeasure",
        "model": {"factory": FACTORY},
        "stages": [
            {"stage": "export", "input_shapes": [list(tiny_models.INPUT_SHAPE)]},
            {"stage": "compile", "hint": "latency", "default_candidate": False},
            {"stage": "benchmark", "iterations": 20, "profile": False},
        ],
    }
    pipeline = tmp_path / "remeasure.yaml"
    pipeline.write_text(yaml.safe_dump(config))

    def run(folder: str, *options: str) -> tuple[dict[str, Any], str]:
        result = CliRunner().invoke(app, ["pipeline", "run", str(pipeline), "-o", str(tmp_path / folder), *options])
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / folder / "report.json").read_text()), " ".join(result.output.split())

    first, output = run("a")
    assert not any(cached(first).values()) and "cached" not in output
    replayed, output = run("b")
    assert all(cached(replayed).values())
    fps = replayed["variants"][0]["benchmark"]["throughput_fps"]
    assert f"{fps:,.1f} cached" in output and " ".join(CACHED_NOTE.split()) in output
    assert CACHED_NOTE in (tmp_path / "b" / "report.md").read_text()
    remeasured, output = run("c", "--remeasure")
    assert cached(remeasured) == {"export": True, "compile": True, "benchmark": False}
    fps = remeasured["variants"][0]["benchmark"]["throughput_fps"]
    assert f"{fps:,.1f} " in output and f"{fps:,.1f} cached" not in output  # measured now: unmarked
    assert " ".join(CACHED_NOTE.split()) not in output
    assert CACHED_NOTE not in (tmp_path / "c" / "report.md").read_text()
