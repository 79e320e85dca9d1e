"""Speed verdicts with intervals, the machine's measured state, and identical models never ranked (issue 20)."""

from __future__ import annotations

from pathlib import Path

import openvino as ov
import pytest

from ovq.benchmarking.engine import benchmark_interleaved
from ovq.benchmarking.protocol import (
    Extension,
    compare_ratios,
    compare_runs,
    compare_unpaired,
    ratio_interval,
    verdict_of,
)
from ovq.pipeline.runner import run_pipeline
from ovq.runtime.machine_state import MachineConditions, MachineProbe, MachineSample
from tests.integration.test_default_candidate import by_name, write_pipeline
from tests.tiny_models import write_ir


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [
        ([1.01, 0.99, 1.00, 1.005, 0.995], "tie"),
        ([1.30, 1.32, 1.28, 1.31, 1.29], "faster"),
        ([0.70, 0.72, 0.71, 0.705, 0.715], "slower"),
        ([1.30, 1.32, 1.28], "undecided"),  # three pairs decide nothing: regimes of a busy machine align
        ([1.00, 1.20, 0.90], "undecided"),  # wider than the question: more repeats, or a tie at the cap
        ([1.30, 1.32], "undecided"),  # two repeats are no interval
    ],
)
def test_a_verdict_is_read_from_the_interval_not_the_point_ratio(ratios: list[float], verdict: str) -> None:
    comparison = compare_ratios(ratios)
    assert comparison.verdict == verdict
    assert comparison.low <= comparison.ratio <= comparison.high
    assert f"[{comparison.low:.2f}, {comparison.high:.2f}]" in comparison.describe()


def test_the_interval_narrows_with_repeats_and_is_reproducible() -> None:
    few = ratio_interval([0.98, 1.03, 1.00])
    many = ratio_interval([0.98, 1.03, 1.00, 1.01, 0.99, 1.02, 1.00, 0.995, 1.005])
    assert few == ratio_interval([0.98, 1.03, 1.00])  # fixed seed: the same repeats give the same interval
    assert many[1] - many[0] < few[1] - few[0]
    assert verdict_of(*many) == "tie"


def test_the_machine_state_is_measured_around_a_benchmark(tmp_path: Path) -> None:
    probe = MachineProbe.take(0.05)
    conditions = MachineConditions.between(probe, MachineSample.now(calibrate=True))
    assert conditions.calibration_before_ms and conditions.calibration_after_ms
    if conditions.neighbours_before is not None:
        assert 0.0 <= conditions.neighbours_before <= 1.0
    compiled = ov.Core().compile_model(str(write_ir(tmp_path / "tiny.xml")), "CPU")
    results = benchmark_interleaved({"a": compiled}, repeats=2, iterations=20)
    machine = results["a"].machine
    assert machine is not None and set(machine) >= {"neighbours_during", "calibration_after_ms", "busy", "changed"}
    assert results["a"].to_dict()["machine"] == machine  # the report contract carries it


def test_the_same_model_twice_is_never_called_faster_by_ten_percent(tmp_path: Path) -> None:
    path = str(write_ir(tmp_path / "tiny.xml"))
    core = ov.Core()
    compiled = {"a": core.compile_model(path, "CPU"), "b": core.compile_model(path, "CPU")}
    extension = Extension(max_repeats=8, time_cap_s=2.0, pairs=(("b", "a"),))
    results = benchmark_interleaved(compiled, repeats=3, duration_s=0.1, extension=extension)
    comparison = compare_runs(results["b"].throughput_fps_runs, results["a"].throughput_fps_runs)
    assert 3 <= comparison.repeats <= 8
    assert not (comparison.differs and abs(comparison.ratio - 1.0) >= 0.10), comparison.describe()
    # Extra rounds are added only while the comparison is undecided (and within the caps).
    if comparison.repeats > 3:
        shorter = compare_runs(results["b"].throughput_fps_runs[:-1], results["a"].throughput_fps_runs[:-1])
        assert shorter.verdict == "undecided"


def test_variants_that_compile_to_the_same_thing_are_measured_once_and_never_ranked(tmp_path: Path) -> None:
    path = write_pipeline(
        tmp_path,
        [
            {"stage": "precision", "name": "default_a", "mode": "default"},
            {"stage": "precision", "name": "default_b", "mode": "default"},
            {"stage": "quantize", "dataset": "data", "subset_size": 8},
            {"stage": "compile", "default_candidate": False},
            {"stage": "benchmark", "iterations": 100, "repeats": 3, "profile": False},
        ],
    )
    report = run_pipeline(path, output_dir=tmp_path / "run", cache=False)
    variants = by_name(report)
    a, b, int8 = (variants[n]["benchmark"] for n in ("default_a", "default_b", "int8"))
    assert a["compiled_digest"] == b["compiled_digest"] != int8["compiled_digest"]
    # Exactly one of an identical pair was measured; the other carries its numbers and says so.
    measured_as = {a.get("identical_to"), b.get("identical_to")} - {None}
    assert len(measured_as) == 1
    assert a["throughput_fps_runs"] == b["throughput_fps_runs"]
    stage = next(s for s in report["stages"] if s["kind"] == "benchmark")
    assert sum("identical_to" in d for d in stage["details"].values() if isinstance(d, dict)) >= 1
    # The FP32 reference runs true f32; where the plugin's default is f32 too, it is the same compiled model.
    reference_same = variants["fp32"]["benchmark"]["compiled_digest"] == a["compiled_digest"]
    assert (variants["default_a"]["compile"]["inference_precision"] == "f32") == reference_same
    verdict = a["comparisons"]["reference"]["verdict"]
    assert (verdict == "identical") == reference_same
    for block in (a, b, int8):
        comparison = block["comparisons"]["reference"]
        assert comparison["verdict"] in ("faster", "slower", "tie", "undecided", "identical")
        if comparison["verdict"] != "identical":
            assert comparison["low"] <= comparison["ratio"] <= comparison["high"]
    assert report["variants"][0]["benchmark"]["machine"]["calibration_before_ms"] > 0
    assert "[" in (tmp_path / "run" / "report.md").read_text()  # the interval is shown, not only the ratio


def test_unpaired_series_compare_with_a_wider_interval_than_paired_ones() -> None:
    # Two runs of a sweep: nothing pairs their repeats, so drift shared by a pair cannot cancel.
    ours, theirs = [130.0, 100.0, 118.0, 125.0, 110.0], [100.0, 78.0, 92.0, 96.0, 85.0]  # shared drift, ~1.3x
    paired = compare_runs(ours, theirs)
    unpaired = compare_unpaired(ours, theirs)
    assert paired.verdict == "faster"
    assert unpaired.high - unpaired.low > paired.high - paired.low
    assert compare_unpaired([100.0, 101.0, 99.5, 100.5, 99.8], [100.2, 99.8, 100.4, 100.0, 99.6]).verdict == "tie"
    assert compare_unpaired([130.0, 131.0, 129.0, 130.5, 129.5], [100.0, 101.0, 99.0, 100.5, 99.5]).verdict == "faster"
    assert compare_unpaired([130.0, 131.0, 129.0], [100.0, 101.0, 99.0]).verdict == "undecided"  # too few repeats


def test_an_extension_with_a_threshold_stops_once_the_interval_is_on_one_side() -> None:
    gate = Extension(pairs=(("tonight", "baseline"),), threshold=0.90)
    baseline = [100.0, 101.0, 99.0, 100.5, 99.5]
    assert gate.undecided({"tonight": [80.0, 81.0, 79.0, 80.5, 79.5], "baseline": baseline}) == []  # regressed
    assert gate.undecided({"tonight": [97.0, 101.0, 96.0, 99.0, 103.0], "baseline": baseline}) == []  # cleared
    straddling = {"tonight": [80.0, 99.0, 85.0, 95.0, 88.0], "baseline": baseline}
    assert gate.undecided(straddling) == [("tonight", "baseline")]
    assert gate.undecided({"tonight": [80.0, 81.0], "baseline": baseline[:2]}) != []  # too few pairs


def test_an_extension_versus_the_fastest_decides_each_point_against_the_current_leader() -> None:
    extension = Extension(versus_fastest=True)
    leader, close, far = (
        [100.0, 120.0, 90.0, 110.0, 95.0],
        [97.0, 118.0, 93.0, 104.0, 98.0],
        [50.0, 61.0, 45.0, 55.0, 47.0],
    )
    undecided = extension.undecided({"far": far, "close": close, "leader": leader})
    # Both are judged against the leader (not the first listed): far is clearly slower, close is not told apart.
    assert undecided == [("close", "leader")]
    assert Extension().undecided({"far": far, "close": close, "leader": leader}) == []  # vs far: both decided
