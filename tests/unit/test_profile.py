"""Per-layer profiles of real compiled models, and the warning rules built on them."""

from __future__ import annotations

import json
from pathlib import Path

import nncf
import numpy as np
import openvino as ov
import pytest

from ovq.benchmarking.verdict import size_warning, slower_beyond_noise, speed_warning, variant_warnings
from ovq.runtime.execution_precision import default_inference_precision
from ovq.runtime.profile import (
    collect_profile,
    compile_for_profiling,
    likely_reasons,
    profile_model,
    quantized_operations,
    summarize_profile,
)
from tests.unit.test_execution_precision import small_cnn

FEED = {0: np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)}


@pytest.fixture(scope="module")
def fp32_model() -> ov.Model:
    return small_cnn()


@pytest.fixture(scope="module")
def int8_model(fp32_model: ov.Model) -> ov.Model:
    rng = np.random.default_rng(1)
    calibration = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(8)]
    return nncf.quantize(fp32_model, nncf.Dataset(calibration), subset_size=8)


def test_profile_records_every_executed_layer_with_kernel_precision_and_time() -> None:
    compiled = compile_for_profiling(small_cnn(), {"INFERENCE_PRECISION_HINT": "f32"})
    assert str(compiled.get_property("PERF_COUNT")).upper() in ("YES", "TRUE")
    profile = collect_profile(compiled, FEED, iterations=3, min_seconds=0.0)
    assert profile.iterations == 3
    assert profile.inference_precision == "f32"
    compute = [layer for layer in profile.layers if layer.is_compute]
    assert len(compute) == 3  # two convolutions and the fully connected layer
    assert all(layer.precision == "f32" and layer.ms >= 0 and layer.exec_type for layer in compute)
    assert sum(layer.ms for layer in compute) > 0
    summary = summarize_profile(profile)
    assert set(summary["by_precision"]) == {"f32"}
    assert summary["by_precision"]["f32"]["share"] == pytest.approx(1.0, abs=1e-3)
    assert summary["top_layers"][0]["ms"] == pytest.approx(max(layer.ms for layer in profile.layers), abs=1e-4)
    assert summary["quantized"] == {"operations": 0}


def test_int8_profile_names_quantized_ops_and_compares_them_with_the_default(
    fp32_model: ov.Model, int8_model: ov.Model
) -> None:
    quantized = quantized_operations(int8_model)
    assert {op.kind for op in quantized.values()} == {"int8"} and len(quantized) == 3
    default = profile_model(fp32_model, {}, FEED, iterations=5)  # the same model: the same operation names
    profile = profile_model(int8_model, {}, FEED, iterations=5)
    summary = summarize_profile(profile, quantized=quantized, default=default)
    block = summary["quantized"]
    assert block["int8_executed"] == 3 and block["fallback"]["count"] == 0
    assert block["vs_default"]["compared"] == 3  # matched by name across the two compiled graphs
    assert block["vs_default"]["faster"] + block["vs_default"]["slower"] == 3
    for operation in block["per_operation"]:
        assert operation["precision"] == "int8"
        assert operation["default_precision"] == default_inference_precision()
        assert operation["faster_than_default"] == (operation["ms"] < operation["default_ms"])
    assert "int8" in summary["by_precision"]


def test_weight_only_compression_is_found_and_explained() -> None:
    compressed = nncf.compress_weights(small_cnn(), mode=nncf.CompressWeightsMode.INT8_SYM)
    quantized = quantized_operations(compressed)
    assert quantized and {op.kind for op in quantized.values()} == {"weights"}
    summary = summarize_profile(
        profile_model(compressed, {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}, FEED, iterations=3), quantized=quantized
    )
    assert summary["quantized"]["int8_executed"] == 0
    assert any("no quantized operation executed in int8" in reason for reason in likely_reasons(summary))


def test_reasons_name_reorder_overhead_and_fallbacks() -> None:
    summary = {
        "conversions": {"count": 20, "ms": 3.1, "share": 0.31, "int8_neighbours": 12},
        "quantized": {
            "operations": 20,
            "int8_executed": 16,
            "fallback": {"count": 4, "share": 0.18},
            "vs_default": {"compared": 20, "faster": 11, "slower": 9},
        },
    }
    reasons = likely_reasons(summary)
    assert reasons[0] == "31% of time in Reorder/Convert around 12 int8 layers"
    assert "4 of 20 quantized operations ran in floating point (18% of time)" in reasons
    assert "9 of 20 quantized operations were slower than at the default precision" in reasons


def test_slower_beyond_noise_needs_the_paired_interval_below_the_margin() -> None:
    assert slower_beyond_noise([0.80, 0.85, 0.82, 0.83, 0.81])
    assert not slower_beyond_noise([0.80, 0.85, 0.82])  # three repeats decide nothing
    assert not slower_beyond_noise([0.97, 0.99, 0.96, 0.98, 0.97])  # within the 5% margin
    # Spread: five such repeats prove nothing at 95%; eight do.
    assert not slower_beyond_noise([0.70, 0.98, 0.80, 0.75, 0.96])
    assert slower_beyond_noise([0.70, 0.90, 0.80, 0.75, 0.85, 0.80, 0.78, 0.82])
    assert not slower_beyond_noise([0.70, 1.05, 0.80, 0.75, 0.78])  # one repeat disagrees: the interval reaches 1
    assert not slower_beyond_noise([0.70, 0.72])  # two repeats are no interval
    assert not slower_beyond_noise([])


def test_speed_and_size_warnings_carry_ratio_and_reason() -> None:
    slow = {"throughput_fps_runs": [83.0, 87.0, 85.0, 84.0, 86.0], "noisy": False}
    default = {"throughput_fps_runs": [100.0, 100.0, 100.0, 100.0, 100.0], "noisy": False}
    warning = speed_warning(
        "int8", slow, "fp32-default", default, kind="slower_than_default", other_label="default", reasons=["why"]
    )
    assert warning is not None and warning["ratio"] == pytest.approx(0.85)
    assert warning["message"].endswith("likely: why")
    assert speed_warning("int8", default, "fp32", slow, kind="k", other_label="true f32") is None
    assert size_warning("int8", 1140, "fp32", 1000)["ratio"] == pytest.approx(1.14)  # type: ignore[index]
    assert size_warning("int8", 1000, "fp32", 1000) is None
    found = variant_warnings(
        "int8",
        benchmark=slow,
        size_bytes=1200,
        reference=("fp32", {"throughput_fps_runs": [20.0, 20.0, 20.0]}, 1000),
        default=("fp32-default", default, "bf16"),
    )
    assert [w["kind"] for w in found] == ["slower_than_default", "larger_than_reference"]


def test_ovq_benchmark_profile_prints_where_the_time_goes(tmp_path: Path, int8_model: ov.Model) -> None:
    from typer.testing import CliRunner

    from ovq.cli.app import app
    from ovq.cli.benchmark import run_benchmark

    path = tmp_path / "int8.xml"
    ov.save_model(int8_model, path)
    outcome = run_benchmark(path, iterations=20, profile=True, json_path=tmp_path / "out.json")
    assert outcome.profile is not None and outcome.profile["quantized"]["int8_executed"] == 3
    assert json.loads((tmp_path / "out.json").read_text())["profile"]["top_layers"]
    plain = run_benchmark(path, iterations=20)
    assert plain.profile is None  # the timed run never profiles unless asked
    result = CliRunner().invoke(app, ["benchmark", str(path), "-niter", "20", "-q", "--profile"])
    assert result.exit_code == 0, result.output
    assert "Profile (" in result.output and "quantized operations: 3 of 3 ran int8" in result.output


def test_deliverable_is_the_smallest_of_the_variants_tied_with_the_fastest(tmp_path: Path) -> None:
    from ovq.pipeline.context import Variant
    from ovq.pipeline.deliverable import tied_with_fastest

    def variant(name: str, size: int, runs: list[float], noisy: bool = False) -> Variant:
        (tmp_path / f"{name}.xml").write_bytes(b"x" * size)
        (tmp_path / f"{name}.bin").write_bytes(b"")
        bench = {"throughput_fps": sorted(runs)[len(runs) // 2], "throughput_fps_runs": runs, "noisy": noisy}
        return Variant(name=name, precision="x", source=None, model_path=tmp_path / f"{name}.xml", benchmark=bench)

    default = variant("fp32-default", 400, [100.0, 102.0, 98.0, 101.0, 99.0])
    int8_tied = variant("int8", 100, [99.0, 97.0, 99.5, 100.0, 98.0])  # within noise of the default
    int8_slow = variant("int8_slow", 50, [80.0, 82.0, 79.0, 81.0, 80.5])  # slower beyond noise: never delivered
    tied = tied_with_fastest([default, int8_tied, int8_slow])
    assert [v.name for v in tied] == ["fp32-default", "int8"]
    assert min(tied, key=lambda v: v.size_bytes).name == "int8"
