"""`ovq sweep` with the local executor: run folders, the sweep report, user errors, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ovq.cli.app import app
from ovq.sweep.executors import SweepInterrupted
from ovq.sweep.runner import run_sweep
from ovq.sweep.task import RunResult, RunTask
from tests import tiny_models
from tests.cpu import DEFAULT_VARIANT
from tests.sweep_helpers import EIGHT_RUNS, write_sweep, write_tiny_pipeline


@pytest.mark.cpu_class
def test_a_local_sweep_writes_every_run_and_one_report_and_keeps_user_errors(tmp_path: Path) -> None:
    pipeline = write_tiny_pipeline(tmp_path)
    # Inputs shaped 8x8 where the model takes 16x16: a data mismatch (exit 8) for that run only.
    tiny_models.write_npz(tmp_path / "wrong.npz", shape=(1, 3, 8, 8))
    sweep_file = write_sweep(
        tmp_path,
        {"datasets.data.path": ["data.npz", "wrong.npz"], "stages.compile.hint": ["latency"]},
        pipelines=[pipeline.name],
        collect="all",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(sweep_file), "-o", str(out), "--no-cache"])
    assert result.exit_code == 8, result.output
    sweep = json.loads((out / "sweep.json").read_text())
    ok, bad = sweep["runs"]
    assert (ok["status"], ok["exit_code"]) == ("succeeded", 0)
    assert (bad["status"], bad["exit_code"], bad["error"]["type"]) == ("failed", 8, "DataMismatchError")
    # The FP32 model at the plugin default precision is measured beside the declared variants (issue 10).
    # Where the plugin's default is f32 the default is the FP32 model itself, measured once.
    assert [p["variant"] for p in ok["variants"]] == ["fp32", "int8"] + (
        ["fp32-default"] if DEFAULT_VARIANT != "fp32" else []
    )
    assert all(p["accuracy"] is not None and p["throughput_fps"] for p in ok["variants"])
    assert any(p["pareto"] for p in ok["variants"])
    assert sweep["best"]["tiny"]["run_id"] == ok["run_id"]
    assert ok["node"]["cpu_count"] == os.cpu_count() and ok["machine"] in sweep["machines"]
    assert not sweep["mixed_machines"]
    # The driver collected every variant's IR, and each run kept its own folder and report.
    assert (out / "artifacts" / ok["run_id"] / "int8" / "model.xml").is_file()
    assert (out / "artifacts" / ok["run_id"] / "int8" / "model.bin").is_file()
    assert json.loads((Path(ok["run_dir"]) / "report.json").read_text())["status"] == "succeeded"
    html = (out / "sweep.html").read_text()
    assert "<svg" in html and "Pareto" in html
    markdown = (out / "sweep.md").read_text()
    assert "DataMismatchError" in markdown or "exit 8" in markdown


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_cancels_the_rest_and_leaves_a_report_of_what_finished(tmp_path: Path, signum: signal.Signals) -> None:
    """Ctrl-C (SIGINT) and SIGTERM (`kill`, a CI timeout) between runs: exit 130 and 143, the same report."""
    pipeline = write_tiny_pipeline(tmp_path)
    sweep_file = write_sweep(tmp_path, EIGHT_RUNS, pipelines=[pipeline.name])
    out = tmp_path / "out"

    def press_ctrl_c(task: RunTask, result: RunResult) -> None:
        if task.run_id == "002-tiny":
            signal.raise_signal(signum)  # a real signal, delivered to this (the driver's) process

    with pytest.raises(SweepInterrupted) as stopped:
        run_sweep(sweep_file, out_dir=out, cache=False, on_result=press_ctrl_c)
    assert stopped.value.exit_code == 128 + signum
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "interrupted" and sweep["exit_code"] == 128 + signum
    assert sweep["finished_runs"] == ["001-tiny", "002-tiny"]
    assert [(run["status"], run["exit_code"]) for run in sweep["runs"][2:]] == [("cancelled", 128 + signum)] * 6
    assert not (out / "runs" / "003-tiny").exists()
    how = "interrupted (Ctrl-C)" if signum == signal.SIGINT else "terminated (SIGTERM)"
    assert f"{how}: 2 of 8 runs finished" in sweep["notes"][-1]
    assert "interrupted" in (out / "sweep.md").read_text()


def test_a_rerun_marks_replayed_benchmarks_and_remeasure_measures_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache hit is not a measurement: replayed throughputs are marked, --remeasure measures them again."""
    monkeypatch.setenv("OVQ_CACHE_DIR", str(tmp_path / "cache"))  # the first sweep must really measure
    pipeline = write_tiny_pipeline(tmp_path)
    sweep_file = write_sweep(tmp_path, {"stages.compile.hint": ["latency"]}, pipelines=[pipeline.name])

    first = run_sweep(sweep_file, out_dir=tmp_path / "first")
    assert [run["benchmark_cached"] for run in first["runs"]] == [False]
    assert " cached" not in (tmp_path / "first" / "sweep.md").read_text()

    # The same sweep again: every stage, the benchmark included, is replayed from the cache.
    second = CliRunner().invoke(app, ["sweep", str(sweep_file), "-o", str(tmp_path / "second")])
    assert second.exit_code == 0, second.output
    sweep = json.loads((tmp_path / "second" / "sweep.json").read_text())
    assert [run["benchmark_cached"] for run in sweep["runs"]] == [True]
    note = "1 of 1 benchmarked runs replayed their benchmark numbers from the stage cache"
    assert note in second.output and "ovq sweep --remeasure" in second.output
    markdown = (tmp_path / "second" / "sweep.md").read_text()
    assert note in markdown and note in (tmp_path / "second" / "sweep.html").read_text()
    throughputs = re.findall(r"^\| 001-tiny \|(?:[^|]*\|){5} ([^|]*) \|", markdown, re.M)
    # fp32, int8 and, where the plugin's default is not f32, the uncompressed model at that default.
    assert len(throughputs) == len(sweep["runs"][0]["variants"]) == (2 if DEFAULT_VARIANT == "fp32" else 3)
    assert all(re.fullmatch(r"[\d.e+]+( noisy)? cached", cell) for cell in throughputs), throughputs

    third = CliRunner().invoke(app, ["sweep", str(sweep_file), "-o", str(tmp_path / "third"), "--remeasure"])
    assert third.exit_code == 0, third.output
    sweep = json.loads((tmp_path / "third" / "sweep.json").read_text())
    assert [run["benchmark_cached"] for run in sweep["runs"]] == [False]
    assert "remeasure" not in third.output and " cached" not in (tmp_path / "third" / "sweep.md").read_text()
    report = json.loads((Path(sweep["runs"][0]["run_dir"]) / "report.json").read_text())
    cached = {stage["kind"]: stage["cached"] for stage in report["stages"]}
    assert cached["benchmark"] is False
    assert cached["export"] is True and cached["quantize"] is True  # only the benchmark ran again
