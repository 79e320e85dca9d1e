"""Nightly orchestration with a fake `run_pipeline`: failures do not stop the job, gates decide the code."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from ovq.errors import ConfigError, DependencyError, InputFileError, StageError
from ovq.nightly.history import HistoryStore
from ovq.nightly.runner import NightlyResult, find_pipeline_files, most_relevant_exit_code, run_nightly

NIGHT = "2026-11-0{day}T02:00:00+00:00"


GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "quickstart.json"


def fabricated_report(spec: dict[str, Any], day: int) -> dict[str, Any]:
    """The real quickstart report (a golden written by a real run), re-dated and with the spec's numbers."""
    report: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    failed = bool(spec.get("error"))
    report |= {
        "status": "failed" if failed else "succeeded",
        "pipeline": spec["name"],
        "config_digest": "cfg-1",
        "started_at": NIGHT.format(day=day),
        "finished_at": NIGHT.format(day=day),
        "duration_s": 10.0,
        "error": spec.get("error"),
    }
    report["environment"] |= {"ovq": "0.1.0", "openvino": "2026.4.1", "nncf": "3.4.0", "cpu": "Test CPU"}
    report["environment"]["cpu_class"] = spec.get("cpu_class", "avx2")
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    report["variants"] = [int8]
    int8["size_bytes"] = 110_000
    int8["accuracy"]["value"] = spec.get("accuracy", 0.98)
    benchmark = int8["benchmark"]
    benchmark |= {"throughput_fps": spec.get("fps", 4000.0), "spread": 0.02, "noisy": False}
    benchmark["latency_ms"]["median"] = 1.0
    if failed:
        report["budget"] = report["deliverable"] = None
    return report


class FakeRunner:
    """Stands in for the spine: the pipeline file says what the run does."""

    def __init__(self, day: int = 1) -> None:
        self.day = day
        self.calls: list[str] = []

    def __call__(self, path: Path, output_dir: Path) -> dict[str, Any]:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.calls.append(spec["name"])
        output_dir.mkdir(parents=True, exist_ok=True)
        if spec.get("raise") == "bug":
            raise RuntimeError("something nobody expected")
        if spec.get("returns") == "nothing":
            return None  # type: ignore[return-value]
        if spec.get("returns") == "unreadable":
            report = fabricated_report(spec, self.day)
            report["variants"][0]["benchmark"]["throughput_fps"] = "fast"  # a string where the contract has a number
            return report
        if spec.get("raise") == "unreadable":
            # A failed run whose own report.json breaks the contract (no pipeline name).
            report = fabricated_report(spec | {"error": {"stage": "quantize", "type": "StageError"}}, self.day)
            report["error"] |= {"message": "NNCF could not quantize"}
            del report["pipeline"]
            (output_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
            raise StageError("NNCF could not quantize", stage="quantize")
        if spec.get("raise") == "stage":
            # Like the spine: write the failed report, then raise.
            report = fabricated_report(spec | {"error": {"stage": "quantize", "type": "StageError"}}, self.day)
            report["error"] |= {"message": "NNCF could not quantize", "hint": "look at the log"}
            (output_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
            raise StageError("NNCF could not quantize", stage="quantize")
        return fabricated_report(spec, self.day)


def write_pipelines(folder: Path, specs: dict[str, dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, spec in specs.items():
        (folder / file_name).write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


def night_with_ci_files(folder: Path, runner: FakeRunner, history: HistoryStore, tmp_path: Path) -> NightlyResult:
    """One nightly run of every pipeline in folder, writing tmp_path/out, junit.xml and summary.md."""
    return run_nightly(
        [folder],
        run_pipeline=runner,
        history=history,
        out_dir=tmp_path / "out",
        junit_path=tmp_path / "junit.xml",
        summary_path=tmp_path / "summary.md",
        plots=False,
    )


def test_one_failing_pipeline_does_not_stop_the_others(tmp_path: Path) -> None:
    folder = write_pipelines(
        tmp_path / "nightly",
        {
            "a.yaml": {"name": "alpha"},
            "b.yaml": {"name": "beta", "raise": "stage"},
            "c.yaml": {"name": "gamma", "raise": "bug"},
            "d.yml": {"name": "delta"},
        },
    )
    (folder / "notes.txt").write_text("not a pipeline", encoding="utf-8")
    runner = FakeRunner()
    history = HistoryStore(tmp_path / "history.sqlite")
    result = night_with_ci_files(folder, runner, history, tmp_path)

    assert runner.calls == ["alpha", "beta", "gamma", "delta"]
    outcomes = {o.pipeline: o for o in result.outcomes}
    assert outcomes["alpha"].ok and outcomes["delta"].ok
    # The stage error's own report.json (written before raising) is what got recorded.
    assert outcomes["beta"].error_exit_code == 3
    assert outcomes["beta"].error is not None and outcomes["beta"].error.hint == "look at the log"
    # The unexpected exception became a failed report named after the file, with its traceback kept.
    assert outcomes["c"].error_exit_code == 1
    assert outcomes["c"].error is not None and outcomes["c"].error.type == "RuntimeError"
    assert "something nobody expected" in (outcomes["c"].traceback or "")
    # A bug in ovq outranks a stage failure.
    assert result.exit_code == 1

    assert history.count() == 4
    assert {run.status for run in history.list()} == {"succeeded", "failed"}
    root = ET.parse(tmp_path / "junit.xml").getroot()
    # One case per pipeline run, plus the budget gate that alpha and delta (quickstart reports) each passed.
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("6", "2", "0")
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "2 of 4 pipeline(s) failed (exit code 1)" in summary
    assert "RuntimeError: something nobody expected" in summary
    assert json.loads((tmp_path / "out" / "nightly.json").read_text())["exit_code"] == 1


def test_a_report_that_breaks_the_contract_is_a_bug_and_the_night_goes_on(tmp_path: Path) -> None:
    folder = write_pipelines(
        tmp_path / "nightly",
        {
            "a.yaml": {"name": "alpha"},
            "b.yaml": {"name": "beta", "returns": "unreadable"},
            "c.yaml": {"name": "gamma", "raise": "unreadable"},
            "d.yaml": {"name": "delta", "returns": "nothing"},
            "e.yaml": {"name": "epsilon"},
        },
    )
    history = HistoryStore(tmp_path / "history.sqlite")
    history.record(fabricated_report({"name": "beta"}, day=1), gate_status="passed")  # beta has a baseline
    runner = FakeRunner(day=2)
    result = night_with_ci_files(folder, runner, history, tmp_path)

    assert runner.calls == ["alpha", "beta", "gamma", "delta", "epsilon"]
    outcomes = {o.path.stem: o for o in result.outcomes}
    assert outcomes["a"].ok and outcomes["e"].ok
    # What run_pipeline returned does not parse: a bug in ovq, named by the field that broke the contract.
    beta = outcomes["b"]
    assert beta.exit_code == 1 and beta.report.status == "failed" and beta.gates == []
    assert beta.error is not None and beta.error.type == "ReportFormatError"
    assert "not a readable report: variants.0.benchmark.throughput_fps" in beta.error.message
    # A failed run's report.json that does not parse: a bug too, not the run's own stage error (exit 3).
    gamma = outcomes["c"]
    assert gamma.exit_code == 1 and gamma.error is not None and gamma.error.type == "ReportFormatError"
    assert "report.json is not a readable report: pipeline" in gamma.error.message
    assert "the run failed in stage quantize with StageError: NNCF could not quantize" in gamma.error.message
    # Not a report at all (the case this one is treated like).
    delta = outcomes["d"]
    assert delta.exit_code == 1 and delta.error is not None and delta.error.type == "TypeError"
    assert result.exit_code == 1

    # Recorded as failed runs (never tomorrow's baseline); the broken document itself is not recorded.
    recorded = {run.pipeline: run.status for run in history.list(limit=None) if run.run_id > 1}
    assert recorded == {"alpha": "succeeded", "b": "failed", "c": "failed", "d": "failed", "epsilon": "succeeded"}
    last_beta = history.last_good("beta")
    assert last_beta is not None and last_beta.run_id == 1
    suites = {suite.get("name"): suite for suite in ET.parse(tmp_path / "junit.xml").getroot().iter("testsuite")}
    (error,) = list(suites["ovq.nightly.b"].iter("error"))
    assert "throughput_fps" in (error.get("message") or "")
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "3 of 5 pipeline(s) failed (exit code 1)" in summary
    assert json.loads((tmp_path / "out" / "nightly.json").read_text())["exit_code"] == 1


def test_a_regression_fails_the_night_and_never_becomes_the_baseline(tmp_path: Path) -> None:
    pipeline = tmp_path / "quick.yaml"
    history = HistoryStore(tmp_path / "history.sqlite")

    def night(day: int, **spec: Any) -> Any:
        pipeline.write_text(yaml.safe_dump({"name": "quick", **spec}), encoding="utf-8")
        return run_nightly(
            [pipeline],
            run_pipeline=FakeRunner(day),
            history=history,
            out_dir=tmp_path / f"night{day}",
            junit_path=tmp_path / f"junit{day}.xml",
            plots=day == 3,
            plot_format="png",
        )

    first = night(1, fps=4000.0)
    assert first.exit_code == 0
    assert "no baseline yet" in first.outcomes[0].notes[0]

    second = night(2, fps=3000.0)  # 25 % slower, far beyond 10 % and 2 × 2 % noise
    assert second.exit_code == 10
    (failed,) = second.outcomes[0].failed_gates
    assert failed.name == "throughput_regression"
    assert str(second.outcomes[0].baseline_source).startswith(f"last good run {first.outcomes[0].run_id}")
    assert history.get(second.outcomes[0].run_id or -1).gate_status == "failed"
    junit = ET.parse(tmp_path / "junit2.xml").getroot()
    assert junit.get("failures") == "1"

    # Back to normal: compared with night 1 (the last good run), not with the regressed night 2.
    third = night(3, fps=3900.0)
    assert third.exit_code == 0
    assert third.outcomes[0].baseline_source.startswith(f"last good run {first.outcomes[0].run_id}")  # type: ignore[union-attr]
    plot = third.outcomes[0].plot_path
    assert plot is not None and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_night_is_compared_only_with_baselines_of_its_own_cpu_class(tmp_path: Path) -> None:
    pipeline = tmp_path / "quick.yaml"
    history = HistoryStore(tmp_path / "history.sqlite")

    def night(day: int, cpu_class: str, fps: float, baseline_ref: Path | None = None) -> Any:
        pipeline.write_text(yaml.safe_dump({"name": "quick", "fps": fps, "cpu_class": cpu_class}), encoding="utf-8")
        result = run_nightly(
            [pipeline],
            run_pipeline=FakeRunner(day),
            history=history if baseline_ref is None else None,
            baseline_ref=baseline_ref,
            out_dir=tmp_path / f"night{day}",
            plots=False,
        )
        return result.outcomes[0]

    first = night(1, "avx2", 4000.0)
    # Another class measured 25 % slower is another machine, not a regression: no gate fails, and the note says so.
    other = night(2, "avx512_core_vnni", 3000.0)
    assert other.exit_code == 0 and not other.failed_gates
    assert any("not comparable" in note and "avx2" in note for note in other.notes), other.notes
    assert other.baseline_source is None
    # The same slowdown on the first night's class is one, against that night (not the other class's).
    regressed = night(3, "avx2", 3000.0)
    assert [g.name for g in regressed.failed_gates] == ["throughput_regression"]
    assert str(regressed.baseline_source).startswith(f"last good run {first.run_id}")
    # The other class now has its own baseline: night 2.
    again = night(4, "avx512_core_vnni", 2950.0)
    assert again.exit_code == 0 and str(again.baseline_source).startswith(f"last good run {other.run_id}")

    # A pinned baseline that says its class: accuracy and speed of another class are skipped as not comparable,
    # the size (the same on every CPU) is still gated.
    pinned = tmp_path / "baseline.yaml"
    pinned.write_text(
        "pipelines: {quick: {cpu_class: amx, variants: {int8: {throughput_fps: 9000, accuracy: 0.999,"
        " size_bytes: 50000}}}}\n",
        encoding="utf-8",
    )
    pinned_night = night(5, "avx2", 4000.0, baseline_ref=pinned)
    by_gate = {g.name: g for g in pinned_night.gates if g.variant == "int8"}
    assert by_gate["throughput_regression"].status == "skipped"
    assert "not comparable" in by_gate["throughput_regression"].message
    assert by_gate["accuracy_regression"].status == "skipped"
    assert by_gate["size_regression"].status == "failed"  # 110 000 bytes against a pinned 50 000


def test_a_pinned_baseline_and_the_exit_code_rule(tmp_path: Path) -> None:
    folder = write_pipelines(
        tmp_path / "p",
        {
            "slow.yaml": {"name": "slow", "fps": 3000.0},
            "budget.yaml": {
                "name": "budget",
                "error": {"type": "AccuracyBudgetError", "message": "missed by 0.02"},
            },
        },
    )
    pinned = tmp_path / "baseline.yaml"
    pinned.write_text("pipelines: {slow: {variants: {int8: {throughput_fps: 4000}}}}\n", encoding="utf-8")
    result = run_nightly(
        [folder],
        run_pipeline=FakeRunner(),
        history=None,
        baseline_ref=pinned,
        out_dir=tmp_path / "out",
        plots=False,
    )
    outcomes = {o.pipeline: o for o in result.outcomes}
    assert [g.name for g in outcomes["slow"].failed_gates] == ["throughput_regression"]
    assert outcomes["slow"].exit_code == 10
    assert outcomes["budget"].exit_code == 4
    assert [g.name for g in outcomes["budget"].failed_gates] == ["budget"]
    assert "does not pin budget" in outcomes["budget"].notes[0]
    assert result.exit_code == 4  # a missed budget outranks a regression


def test_exit_code_priority() -> None:
    assert most_relevant_exit_code([]) == 0
    assert most_relevant_exit_code([0, 0]) == 0
    assert most_relevant_exit_code([10, 5, 4]) == 4
    assert most_relevant_exit_code([10, 5]) == 5
    assert most_relevant_exit_code([4, 3]) == 3
    assert most_relevant_exit_code([3, 2, 10]) == 2
    assert most_relevant_exit_code([2, 1]) == 1
    assert most_relevant_exit_code([42]) == 1


def test_pipeline_paths_are_checked_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no pipeline files"):
        find_pipeline_files([tmp_path / "empty"])
    with pytest.raises(InputFileError, match=r"missing\.yaml does not exist"):
        find_pipeline_files([tmp_path / "missing.yaml"])
    one = tmp_path / "one.yaml"
    one.write_text("name: one\n", encoding="utf-8")
    assert find_pipeline_files([one, tmp_path / "." / "one.yaml"]) == [one]


def test_tracking_asked_for_without_mlflow_fails_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` fail like a missing package
    pipeline = tmp_path / "a.yaml"
    pipeline.write_text("name: a\n", encoding="utf-8")
    runner = FakeRunner()
    with pytest.raises(DependencyError, match="mlflow is not installed") as caught:
        run_nightly([pipeline], run_pipeline=runner, history=None, out_dir=tmp_path / "o", mlflow_uri="mlruns")
    assert "pip install mlflow" in caught.value.hint
    assert runner.calls == []


def test_runs_are_logged_to_a_local_mlflow_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for the client this test reads back with
    from ovq.nightly.tracking import log_run

    report = fabricated_report({"name": "quick"}, day=1)
    run_id = log_run(report, tracking_uri=tmp_path / "mlruns", experiment="ovq-test")
    run = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri()).get_run(run_id)
    assert run.data.metrics["int8.throughput_fps"] == 4000.0
    assert run.data.params["openvino_version"] == "2026.4.1"
    assert run.info.status == "FINISHED"
    artifact = next((tmp_path / "mlruns").rglob("report.json"))
    assert json.loads(artifact.read_text())["pipeline"] == "quick"
