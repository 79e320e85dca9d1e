"""The benchmark engine: benchmark_app's definitions, inputs, repeats, resources, `ovq benchmark`.

Real OpenVINO on tiny models built with its opset; every measurement is a fraction of a second.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovq.benchmarking.engine import (
    CONTRACT_FIELDS,
    BenchmarkResult,
    benchmark,
    benchmark_interleaved,
    combine_runs,
    paired_speedup,
    percentile,
    speedup_table,
)
from ovq.benchmarking.inputs import prepare_inputs, random_inputs
from ovq.cli.benchmark import parse_shapes, run_benchmark
from ovq.errors import ConfigError, DataMismatchError, InputFileError, ModelFormatError
from ovq.runtime.resources import measure_resources

CONTRACT_LATENCY_KEYS = {"median", "average", "min", "max", "p50", "p90", "p95", "p99"}


def tiny_conv_model(batch: int | None = 1) -> ov.Model:
    """A conv + relu over a 3x16x16 image; ``batch=None`` makes the batch dimension dynamic."""
    rng = np.random.default_rng(0)
    x = ops.parameter([batch if batch is not None else -1, 3, 16, 16], np.float32, name="image")
    weights = ops.constant(rng.standard_normal((8, 3, 3, 3)).astype(np.float32))
    y = ops.relu(ops.convolution(x, weights, [1, 1], [1, 1], [1, 1], [1, 1]))
    return ov.Model([y], [x], "tiny_conv")


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


@pytest.fixture(scope="module")
def compiled(core: ov.Core) -> ov.CompiledModel:
    # Two streams on this 2-core machine: two requests, so the async paths are exercised.
    return core.compile_model(tiny_conv_model(), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2})


@pytest.fixture(scope="module")
def ir_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ir") / "tiny.xml"
    ov.save_model(tiny_conv_model(), path, compress_to_fp16=False)
    return path


# --------------------------------------------------------------------------------------------- definitions


def test_percentile_is_benchmark_apps_nearest_rank() -> None:
    from openvino.tools.benchmark.benchmark import percentile as benchmark_app_percentile

    values = sorted(np.random.default_rng(1).uniform(0, 10, 37).tolist())
    for p in range(1, 101):
        assert percentile(values, p) == benchmark_app_percentile(values, p)
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 91) == 10
    assert percentile([4.0, 7.0], 0) == 4.0  # p0 is the minimum, not benchmark_app's wrap-around


def test_duration_mode_counts_whole_rounds_and_includes_final_wait(compiled: ov.CompiledModel) -> None:
    result = benchmark(compiled, duration_s=0.2)
    assert result.num_requests == 2
    assert result.duration_s >= 0.2
    assert result.count > 0
    assert result.count % result.num_requests == 0  # the loop stops on a whole round of requests
    assert result.throughput_fps == pytest.approx(result.count / result.duration_s)
    assert result.throughput_fps_runs == [result.throughput_fps]
    assert (result.repeats, result.spread, result.noisy) == (1, 0.0, False)
    # How busy the cores were is a speed claim (tests/perf/benchmark_cpu_share.py); here only its type.
    assert isinstance(result.cpu_utilisation, float) and math.isfinite(result.cpu_utilisation)


def test_iterations_mode_is_exact_after_rounding_to_requests(compiled: ov.CompiledModel) -> None:
    assert benchmark(compiled, iterations=10).count == 10
    assert benchmark(compiled, iterations=7, num_requests=4).count == 8  # benchmark_app rounds up
    sync = benchmark(compiled, iterations=5, api="sync")
    assert (sync.count, sync.num_requests, sync.api) == (5, 1, "sync")


def test_latency_statistics_are_ordered(compiled: ov.CompiledModel) -> None:
    result = benchmark(compiled, iterations=40)
    latency = result.latency_ms
    assert set(latency) == CONTRACT_LATENCY_KEYS
    assert latency["min"] <= latency["median"] <= latency["p90"] <= latency["p95"] <= latency["p99"]
    assert latency["p99"] <= latency["max"]
    assert latency["median"] == latency["p50"]
    assert latency["min"] <= latency["average"] <= latency["max"]
    curve = result.latency_percentiles_ms
    assert len(curve) == 101
    assert curve == sorted(curve)
    assert (curve[0], curve[100]) == (latency["min"], latency["max"])


def test_first_inference_and_settings_are_recorded(compiled: ov.CompiledModel) -> None:
    result = benchmark(compiled, iterations=2, compile_ms=12.5)
    assert isinstance(result.first_inference_ms, float) and result.first_inference_ms > 0
    assert result.compile_ms == 12.5
    assert result.hint == "throughput"
    assert result.num_streams == 2
    assert isinstance(result.num_threads, int) and result.num_threads >= 1
    assert result.inference_precision in {"f32", "bf16", "f16"}
    # Measured (a finite share); how high it is, is a speed claim for tests/perf/benchmark_cpu_share.py.
    assert isinstance(result.cpu_utilisation, float) and math.isfinite(result.cpu_utilisation)


def test_progress_is_reported_sparingly_and_ends_at_one(compiled: ov.CompiledModel) -> None:
    fractions: list[float] = []
    benchmark(compiled, duration_s=0.3, progress=fractions.append)
    assert fractions[-1] == 1.0
    assert all(0 < f <= 1 for f in fractions)
    assert fractions == sorted(fractions)
    assert len(fractions) <= 0.3 * 10 + 2  # at most ~10 calls per second


def test_to_dict_has_exactly_the_contract_fields(compiled: ov.CompiledModel) -> None:
    result = benchmark(compiled, iterations=4, compile_ms=3.0)
    data = json.loads(json.dumps(result.to_dict()))
    assert tuple(data) == CONTRACT_FIELDS
    assert set(data["latency_ms"]) == CONTRACT_LATENCY_KEYS
    assert BenchmarkResult.from_dict(data).to_dict() == data


def test_bad_limits_are_config_errors(compiled: ov.CompiledModel) -> None:
    with pytest.raises(ConfigError, match="duration_s"):
        benchmark(compiled, duration_s=0)
    with pytest.raises(ConfigError, match="num_requests"):
        benchmark(compiled, iterations=2, num_requests=0)


# --------------------------------------------------------------------------------------------- inputs


def test_random_inputs_match_shapes_and_are_deterministic(compiled: ov.CompiledModel, core: ov.Core) -> None:
    feed = random_inputs(compiled)
    assert list(feed) == ["image"]
    assert feed["image"].shape == (1, 3, 16, 16) and feed["image"].dtype == np.float32
    assert feed["image"].min() >= 0 and feed["image"].max() <= 255
    np.testing.assert_array_equal(feed["image"], random_inputs(compiled)["image"])

    ids = ops.parameter([1, 8], np.int64, name="input_ids")
    int_model = core.compile_model(ov.Model([ops.convert(ids, np.float32)], [ids], "ints"), "CPU")
    int_feed = random_inputs(int_model)["input_ids"]
    assert int_feed.dtype == np.int64 and int_feed.min() >= 0 and int_feed.max() <= 255


def test_dynamic_shapes_without_inputs_is_a_clear_error(core: ov.Core) -> None:
    dynamic = core.compile_model(tiny_conv_model(batch=None), "CPU")
    with pytest.raises(DataMismatchError, match=r"dynamic input shapes \(image \[\?,3,16,16\]\)") as caught:
        benchmark(dynamic, iterations=1)
    assert "-shape" in caught.value.hint
    feed = np.zeros((2, 3, 16, 16), np.float32)
    assert benchmark(dynamic, [feed], iterations=2, num_requests=1).count == 2


def test_inputs_are_checked_against_the_model(compiled: ov.CompiledModel) -> None:
    image = np.ones((1, 3, 16, 16), np.float64)
    for form in (image, {"image": image}, (image,), [image, {"image": image}]):
        feeds = prepare_inputs(compiled, form)
        assert all(set(feed) == {0} and feed[0].dtype == np.float32 for feed in feeds)
    with pytest.raises(DataMismatchError, match=r"expects shape \[1,3,16,16\], got \[1, 3, 8, 8\]"):
        prepare_inputs(compiled, np.ones((1, 3, 8, 8), np.float32))
    with pytest.raises(DataMismatchError, match="no input named"):
        prepare_inputs(compiled, {"pixels": image})
    with pytest.raises(DataMismatchError, match="non-empty"):
        prepare_inputs(compiled, [])


def test_each_request_gets_its_own_feed(core: ov.Core) -> None:
    x = ops.parameter([1, 4], np.float32, name="x")
    identity_model = core.compile_model(ov.Model([ops.relu(x)], [x], "identity"), "CPU", {"NUM_STREAMS": 2})
    feeds = [np.full((1, 4), value, np.float32) for value in (1.0, 2.0, 3.0)]
    from ovq.benchmarking.inputs import fill_request

    queue = ov.AsyncInferQueue(identity_model, 2)
    for request_id, feed in enumerate(prepare_inputs(identity_model, feeds)[:2]):
        fill_request(queue[request_id], feed)
    queue.start_async()
    queue.start_async()
    queue.wait_all()
    assert sorted(float(queue[i].get_output_tensor(0).data[0, 0]) for i in range(2)) == [1.0, 2.0]


# --------------------------------------------------------------------------------------------- repeats


def synthetic(throughput: float, median_ms: float = 1.0) -> BenchmarkResult:
    latency = dict.fromkeys(CONTRACT_LATENCY_KEYS, median_ms)
    return BenchmarkResult(
        hint="throughput", inference_precision="f32", num_requests=2, num_streams=2, num_threads=2,
        count=100, duration_s=1.0, throughput_fps=throughput, latency_ms=latency,
        latency_percentiles_ms=[median_ms] * 101, first_inference_ms=5.0, throughput_fps_runs=[throughput],
    )  # fmt: skip


def test_combine_runs_takes_medians_and_flags_noise() -> None:
    steady = combine_runs([synthetic(100), synthetic(102), synthetic(101)])
    assert steady.throughput_fps == 101
    assert steady.throughput_fps_runs == [100, 102, 101]
    assert steady.spread == pytest.approx(2 / 101)
    assert not steady.noisy
    assert (steady.repeats, steady.count, steady.duration_s) == (3, 300, 3.0)

    noisy = combine_runs([synthetic(100, 1.0), synthetic(130, 3.0), synthetic(100, 2.0)])
    assert noisy.spread == pytest.approx(0.3)
    assert noisy.noisy
    assert noisy.latency_ms["median"] == 2.0


def test_paired_speedup_cancels_drift() -> None:
    # The machine halves its speed in repeat 2: pairing per repeat still finds exactly 2x.
    variant = combine_runs([synthetic(200, 1.0), synthetic(100, 2.0), synthetic(300, 0.5)])
    baseline = combine_runs([synthetic(100, 2.0), synthetic(50, 4.0), synthetic(150, 1.0)])
    assert paired_speedup(variant, baseline) == pytest.approx(2.0)
    assert paired_speedup(variant, baseline, metric="latency") == pytest.approx(2.0)
    rebuilt = BenchmarkResult.from_dict(variant.to_dict())
    assert paired_speedup(rebuilt, BenchmarkResult.from_dict(baseline.to_dict())) == pytest.approx(2.0)


def test_interleaving_runs_variants_in_turns(compiled: ov.CompiledModel, core: ov.Core) -> None:
    other = core.compile_model(tiny_conv_model(), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    order: list[tuple[str, int]] = []
    fractions: list[float] = []
    results = benchmark_interleaved(
        {"a": compiled, "b": other},
        repeats=3,
        iterations=4,
        compile_ms={"a": 1.0},
        progress=fractions.append,
        on_run=lambda name, repeat, _result: order.append((name, repeat)),
    )
    # Every round measures each variant once; the order reverses each round (first-of-round bias cancels).
    assert order == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert results["a"].repeats == 3 and len(results["a"].throughput_fps_runs) == 3
    assert results["a"].throughput_fps == pytest.approx(np.median(results["a"].throughput_fps_runs))
    assert results["a"].compile_ms == 1.0 and results["b"].compile_ms is None
    assert results["b"].hint == "latency"
    assert fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    table = speedup_table(results, "a")
    assert table["a"] == 1.0 and table["b"] > 0


# --------------------------------------------------------------------------------------------- resources


def test_measure_resources_sees_memory_and_cpu() -> None:
    with measure_resources() as usage:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB touched
        total = sum(i * i for i in range(200_000))  # some CPU work
    del block
    assert total > 0
    assert usage.wall_s > 0 and usage.cpu_s > 0
    # The share is the arithmetic of what was measured; whether it is high is for tests/perf.
    assert usage.cpu_utilisation == pytest.approx(usage.cpu_s / usage.wall_s / usage.cpu_count)
    assert isinstance(usage.peak_rss_bytes, int) and isinstance(usage.rss_start_bytes, int)
    assert usage.peak_rss_bytes >= usage.rss_start_bytes > 0
    if usage.peak_covers_block:
        assert usage.peak_rss_bytes >= usage.rss_start_bytes + 60 * 2**20
    assert set(usage.to_dict()) >= {"peak_rss_bytes", "cpu_utilisation", "wall_s", "cpu_s", "cpu_count"}


# --------------------------------------------------------------------------------------------- command


def test_benchmark_command_writes_both_json_shapes(ir_path: Path, tmp_path: Path) -> None:
    outcome = run_benchmark(
        ir_path,
        hint="throughput",
        iterations=6,
        num_streams=2,
        inference_precision="f32",
        json_path=tmp_path / "ovq.json",
        benchmark_app_json_path=tmp_path / "app.json",
    )
    assert outcome.result.count == 6
    ours: dict[str, Any] = json.loads((tmp_path / "ovq.json").read_text())
    assert ours["benchmark"]["count"] == 6
    assert ours["compile"]["inference_precision"] == "f32"
    assert ours["execution_precision"] == {"f32": sum(ours["execution_precision"].values())}
    assert ours["resources"]["peak_rss_bytes"] > 0
    app = json.loads((tmp_path / "app.json").read_text())
    assert set(app) == {"cmd_options", "configuration_setup", "execution_results"}
    assert app["execution_results"]["total number of iterations"] == "6"
    assert float(app["execution_results"]["throughput"]) == pytest.approx(outcome.result.throughput_fps, abs=0.01)
    assert app["configuration_setup"]["number of CPU streams"] == "2"
    assert app["cmd_options"]["-niter"] == "6"


def test_benchmark_command_latency_hint_uses_sync_api_like_benchmark_app(ir_path: Path) -> None:
    outcome = run_benchmark(ir_path, hint="latency", iterations=3)
    assert (outcome.result.api, outcome.result.num_requests, outcome.result.count) == ("sync", 1, 3)


def test_benchmark_command_reshapes_dynamic_models(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.xml"
    ov.save_model(tiny_conv_model(batch=None), path)
    with pytest.raises(DataMismatchError, match="dynamic"):
        run_benchmark(path, iterations=2)
    outcome = run_benchmark(path, iterations=2, shape="[2,3,16,16]")
    assert outcome.result.batch_size == 2  # NCHW guessed, as benchmark_app does
    assert outcome.result.throughput_fps == pytest.approx(2 * outcome.result.count / outcome.result.duration_s)
    assert parse_shapes("a[1,128], b[1,128]") == {"a": "[1,128]", "b": "[1,128]"}
    with pytest.raises(ConfigError, match="cannot parse shape"):
        run_benchmark(path, iterations=2, shape="1x3x16x16")


def test_benchmark_command_rejects_missing_and_truncated_models(ir_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        run_benchmark(tmp_path / "nothing.xml", iterations=1)
    lonely = tmp_path / "lonely.xml"
    shutil.copy(ir_path, lonely)
    with pytest.raises(InputFileError, match="weights file is missing") as caught:
        run_benchmark(lonely, iterations=1)
    assert ".bin" in caught.value.hint
    cut = tmp_path / "cut.xml"
    cut.write_text(ir_path.read_text()[:300])
    shutil.copy(ir_path.with_suffix(".bin"), cut.with_suffix(".bin"))
    with pytest.raises(ModelFormatError, match=r"cannot read .*cut\.xml: Start-end tags mismatch"):
        run_benchmark(cut, iterations=1)
    short_bin = tmp_path / "short.xml"
    shutil.copy(ir_path, short_bin)
    short_bin.with_suffix(".bin").write_bytes(ir_path.with_suffix(".bin").read_bytes()[:50])
    with pytest.raises(ModelFormatError, match="Incorrect weights"):
        run_benchmark(short_bin, iterations=1)


def test_benchmark_cmd_through_typer(ir_path: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from ovq.cli.benchmark import benchmark_cmd

    app = typer.Typer()
    app.command("benchmark")(benchmark_cmd)
    app.command("noop")(lambda: None)  # a second command, as in ovq's app, so "benchmark" is a subcommand
    out = tmp_path / "app.json"
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            str(ir_path),
            "-hint",
            "throughput",
            "-niter",
            "4",
            "-q",
            "--benchmark-app-json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Count:            4 iterations" in result.output
    assert "Throughput:" in result.output
    assert math.isfinite(float(json.loads(out.read_text())["execution_results"]["throughput"]))
