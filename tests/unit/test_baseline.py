"""Gates against a baseline: regressions are caught, noise is not, pinned files are checked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ovq.errors import ConfigError, InputFileError
from ovq.nightly.gates import (
    GateResult,
    Tolerances,
    compare,
    compare_reports,
    environment_changes,
    load_pinned_baselines,
    report_gates,
)

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "quickstart.json"


def make_report(
    *,
    accuracy: float = 0.980,
    fps: float = 4000.0,
    latency_ms: float = 1.0,
    size: int = 110_000,
    spread: float | None = 0.02,
    cpu: str = "Test CPU",
    status: str = "succeeded",
) -> dict[str, Any]:
    """The real quickstart report (a golden written by a real run) with its int8 numbers set for the test."""
    report: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    report["status"] = status
    report["config_digest"] = "cfg-1"
    report["environment"] |= {"ovq": "0.1.0", "openvino": "2026.4.1", "nncf": "3.4.0", "cpu": cpu, "cpu_count": 2}
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    report["variants"] = [int8]  # one variant: each gate below is about it
    int8["size_bytes"] = size
    int8["accuracy"] |= {"metric": "top1", "value": accuracy, "higher_is_better": True}
    benchmark = int8["benchmark"]
    benchmark["hint"] = "throughput"
    benchmark["throughput_fps"] = fps
    benchmark["latency_ms"]["median"] = latency_ms
    benchmark["throughput_fps_runs"] = [fps]  # the spread under test is the `spread` field's
    benchmark["spread"] = spread
    benchmark["noisy"] = spread is not None and spread > 0.1
    return report


def by_name(results: list[GateResult]) -> dict[str, GateResult]:
    return {result.name: result for result in results}


def test_an_unchanged_run_passes_every_gate() -> None:
    results = compare_reports(make_report(), make_report())
    assert {r.name: r.status for r in results} == {
        "accuracy_regression": "passed",
        "throughput_regression": "passed",
        "latency_regression": "passed",
        "size_regression": "passed",
    }
    assert all(r.exit_code == 0 for r in results)


def test_regressions_beyond_tolerance_fail_with_numbers() -> None:
    baseline = make_report()
    regressed = make_report(accuracy=0.960, fps=3000.0, latency_ms=1.4, size=130_000)
    gates = by_name(compare_reports(regressed, baseline))

    accuracy = gates["accuracy_regression"]
    assert accuracy.status == "failed"
    assert (accuracy.value, accuracy.baseline) == (0.960, 0.980)
    assert accuracy.limit == pytest.approx(0.975)
    assert "drop +0.0200, allowed 0.0050" in accuracy.message

    throughput = gates["throughput_regression"]
    assert throughput.status == "failed"
    assert throughput.limit == pytest.approx(3600.0)  # 10 % below 4000; 2 × 2 % noise is less than that
    assert "-25.0%" in throughput.message

    assert gates["latency_regression"].status == "failed"
    assert gates["size_regression"].status == "failed"
    assert {r.exit_code for r in gates.values()} == {10}


def test_a_speed_drop_within_the_noise_passes() -> None:
    # 20 % slower, but the benchmark says its runs spread by 15 %: 2 × 15 % = 30 % is allowed.
    gates = by_name(compare_reports(make_report(fps=3200.0, spread=0.15), make_report()))
    assert gates["throughput_regression"].status == "passed"
    assert "widened by noise" in gates["throughput_regression"].message
    assert "noisy" in gates["throughput_regression"].message
    # The same drop on a quiet machine is a regression.
    quiet = by_name(compare_reports(make_report(fps=3200.0, spread=0.01), make_report(spread=0.01)))
    assert quiet["throughput_regression"].status == "failed"


def test_spread_is_computed_from_the_repeats_when_the_field_is_absent() -> None:
    report = make_report(fps=3200.0, spread=None)
    report["variants"][0]["benchmark"]["throughput_fps_runs"] = [3000.0, 3200.0, 4000.0]  # (4000-3000)/3200
    gates = by_name(compare_reports(report, make_report(spread=None)))
    assert gates["throughput_regression"].status == "passed"
    assert gates["throughput_regression"].limit == pytest.approx(4000.0 * (1 - 2 * 1000.0 / 3200.0))


def test_lower_is_better_metrics_regress_upwards() -> None:
    def error_report(value: float) -> dict[str, Any]:
        report = make_report()
        report["variants"][0]["accuracy"] = {"metric": "mse", "value": value, "higher_is_better": False}
        return report

    assert by_name(compare_reports(error_report(0.10), error_report(0.12)))["accuracy_regression"].status == "passed"
    failed = by_name(compare_reports(error_report(0.13), error_report(0.12)))["accuracy_regression"]
    assert failed.status == "failed"
    assert failed.limit == pytest.approx(0.125)


def test_speed_is_not_compared_across_cpus() -> None:
    gates = by_name(compare_reports(make_report(fps=1000.0, cpu="Other CPU"), make_report()))
    assert gates["throughput_regression"].status == "skipped"
    assert "another CPU" in gates["throughput_regression"].message
    assert gates["accuracy_regression"].status == "passed"  # accuracy still compares


def test_variants_missing_on_either_side_are_skipped_not_failed() -> None:
    baseline = make_report()
    current = make_report()
    current["variants"][0]["name"] = "int4"
    results = compare_reports(current, baseline)
    assert results and all(r.status == "skipped" for r in results)
    assert "not in this run's report" in results[0].message


def test_budget_and_perf_gate_failures_come_from_the_report() -> None:
    missed = json.loads(GOLDEN.with_name("budget_missed.json").read_text(encoding="utf-8"))
    (budget,) = report_gates(missed)
    assert (budget.name, budget.status, budget.exit_code) == ("budget", "failed", 4)
    assert budget.message == missed["error"]["message"]

    report = make_report(status="failed")  # the budget was met, then a speed gate failed
    report["error"] = {"stage": "benchmark", "type": "PerformanceGateError", "message": "1.2x < 2x"}
    gates = by_name(report_gates(report))
    assert gates["budget"].status == "passed"
    assert (gates["perf_gate"].status, gates["perf_gate"].exit_code) == ("failed", 5)

    assert [g.status for g in report_gates(make_report())] == ["passed"]
    no_budget = make_report()
    no_budget["budget"] = None
    assert report_gates(no_budget) == []


def test_pinned_file_with_tolerances_per_variant(tmp_path: Path) -> None:
    pinned = tmp_path / "baseline.yaml"
    pinned.write_text(
        "schema_version: 1\n"
        "tolerances: {throughput_drop: 0.05}\n"
        "pipelines:\n"
        "  quickstart:\n"
        "    variants:\n"
        "      int8:\n"
        "        accuracy: 0.985\n"
        "        throughput_fps: 5000\n"
        "        tolerances: {accuracy_drop: 0.01}\n",
        encoding="utf-8",
    )
    baselines = load_pinned_baselines(pinned, Tolerances(noise_k=0.0))
    baseline = baselines.for_pipeline("quickstart")
    assert baseline is not None and baselines.for_pipeline("other") is None
    reference = baseline.variants["int8"].tolerances
    assert (reference.accuracy_drop, reference.throughput_drop, reference.size_rise) == (0.01, 0.05, 0.02)

    gates = by_name(compare(make_report(accuracy=0.980, fps=4000.0), baseline))
    # Only what the file pins is gated: no latency or size gate.
    assert set(gates) == {"accuracy_regression", "throughput_regression"}
    assert gates["accuracy_regression"].status == "passed"  # 0.005 below, 0.01 allowed
    assert gates["throughput_regression"].status == "failed"  # 20 % below, 5 % allowed
    assert gates["throughput_regression"].limit == pytest.approx(4750.0)

    # A pinned variant that disappears from a run that succeeded is a failure, not a skip.
    renamed = make_report()
    renamed["variants"][0]["name"] = "int8_v2"
    assert {g.status for g in compare(renamed, baseline)} == {"failed"}


def test_a_report_can_serve_as_a_pinned_file(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(make_report(fps=5000.0)), encoding="utf-8")
    baseline = load_pinned_baselines(path).for_pipeline("quickstart")
    assert baseline is not None and baseline.variants["int8"].throughput_fps == 5000.0
    assert by_name(compare(make_report(fps=4000.0), baseline))["throughput_regression"].status == "failed"


def test_pinned_file_mistakes_name_the_field(tmp_path: Path) -> None:
    pinned = tmp_path / "baseline.yaml"
    pinned.write_text("pipelines:\n  quickstart:\n    variants:\n      int8: {acuracy: 0.98}\n", encoding="utf-8")
    typo = r"quickstart\.variants\.int8\.acuracy: unknown field; did you mean 'accuracy'\? allowed: accuracy,"
    with pytest.raises(ConfigError, match=typo):
        load_pinned_baselines(pinned)
    pinned.write_text("pipelines: {quickstart: {tolerances: {throughput_drop: 1.5}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tolerances\.throughput_drop: Input should be less than 1"):
        load_pinned_baselines(pinned)
    pinned.write_text("pipelines: {}\npipelines: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: duplicate key 'pipelines'"):
        load_pinned_baselines(pinned)
    pinned.write_text("pipelines: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pinned_baselines(pinned)
    with pytest.raises(InputFileError, match="baseline file not found"):
        load_pinned_baselines(tmp_path / "nope.yaml")
    duplicated = tmp_path / "baseline.json"
    duplicated.write_text('{"pipelines": {}, "pipelines": {"x": {}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'pipelines'"):
        load_pinned_baselines(duplicated)


def test_environment_changes_name_what_moved() -> None:
    before = make_report()
    after = copy.deepcopy(before)
    after["environment"]["openvino"] = "2026.5.0"
    after["config_digest"] = "cfg-2"
    assert environment_changes(after, before) == [
        "OpenVINO 2026.4.1 → 2026.5.0",
        "config digest cfg-1 → cfg-2",
    ]
    assert environment_changes(after, None) == []


def test_the_documented_pinned_file_loads(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "nightly.md"
    block = doc.read_text(encoding="utf-8").split("```yaml\n# baseline.yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "baseline.yaml").write_text(block, encoding="utf-8")
    (tmp_path / "references").mkdir()
    reference = make_report() | {"pipeline": "minilm_budget"}
    (tmp_path / "references" / "minilm-2026-10-01.json").write_text(json.dumps(reference), encoding="utf-8")

    baselines = load_pinned_baselines(tmp_path / "baseline.yaml")
    quickstart = baselines.for_pipeline("quickstart")
    assert quickstart is not None and set(quickstart.variants) >= {"int8"}
    tolerances = quickstart.variants["int8"].tolerances
    assert (tolerances.accuracy_drop, tolerances.throughput_drop, tolerances.noise_k) == (0.01, 0.15, 2.0)
    minilm = baselines.for_pipeline("minilm_budget")
    assert minilm is not None and minilm.variants["int8"].throughput_fps == 4000.0
