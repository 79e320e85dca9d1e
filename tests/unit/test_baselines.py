"""Baselines (PyTorch eager, ONNX Runtime FP32 and static INT8) on a tiny real conv model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovq.benchmarking import peers as baselines
from ovq.errors import ConfigError, DataMismatchError, DependencyError

INPUT_SHAPE = (1, 3, 16, 16)


def _tiny_model() -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    return model.eval()


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "module": _tiny_model(),
        "input": rng.standard_normal(INPUT_SHAPE, dtype=np.float32),
        "calibration": [rng.standard_normal(INPUT_SHAPE, dtype=np.float32) for _ in range(16)],
    }


@pytest.fixture(scope="module")
def variants(tiny: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    work = tmp_path_factory.mktemp("baselines")
    measured = baselines.baseline_variants(
        inputs=tiny["input"],
        work_dir=work,
        module=tiny["module"],
        calibration_inputs=tiny["calibration"],
        duration_s=None,
        iterations=20,
        repeats=2,
        num_threads=1,
        reference_size_bytes=10_000,
    )
    return {v["name"]: v for v in measured}


def _check_benchmark_fields(bench: dict[str, Any], *, expect_compile: bool) -> None:
    assert bench["count"] == 40 and bench["repeats"] == 2 and len(bench["throughput_fps_runs"]) == 2
    assert bench["hint"] == "latency" and bench["num_requests"] == 1 and bench["num_threads"] == 1
    assert bench["throughput_fps"] > 0 and bench["duration_s"] > 0
    latency = bench["latency_ms"]
    assert set(latency) == {"median", "average", "min", "max", "p50", "p90", "p95", "p99"}
    assert 0 < latency["min"] <= latency["median"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    percentiles = bench["latency_percentiles_ms"]
    assert len(percentiles) == 101 and percentiles == sorted(percentiles)
    assert bench["first_inference_ms"] > 0
    assert (bench["compile_ms"] is not None and bench["compile_ms"] > 0) == expect_compile
    assert isinstance(bench["noisy"], bool) and bench["spread"] >= 0


def test_all_three_baselines_give_contract_fields(variants: dict[str, dict[str, Any]]) -> None:
    assert list(variants) == ["pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8"]
    _check_benchmark_fields(variants["pytorch_eager"]["benchmark"], expect_compile=False)
    _check_benchmark_fields(variants["onnxruntime_fp32"]["benchmark"], expect_compile=True)
    _check_benchmark_fields(variants["onnxruntime_int8"]["benchmark"], expect_compile=True)
    assert variants["onnxruntime_int8"]["precision"] == "int8"
    assert variants["onnxruntime_int8"]["benchmark"]["inference_precision"] == "int8"
    for variant in variants.values():
        assert variant["baseline"] is True and variant["accuracy"] is None
        assert variant["size_ratio"] == pytest.approx(variant["size_bytes"] / 10_000)
    # 16*3*9 + 16*16*9 + 16*10 weights + 42 biases, 4 bytes each
    assert variants["pytorch_eager"]["size_bytes"] == 4 * (432 + 2304 + 160 + 42)


def test_ort_int8_is_per_channel_qdq_and_close_to_fp32(
    variants: dict[str, dict[str, Any]], tiny: dict[str, Any]
) -> None:
    import onnx
    from onnx import numpy_helper

    int8_path = Path(variants["onnxruntime_int8"]["model_path"])
    graph = onnx.load(str(int8_path)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    # Per-channel weights: some DequantizeLinear has one scale per output channel (16).
    scale_sizes = {initializers[n.input[1]].size for n in graph.node if n.op_type == "DequantizeLinear"}
    assert 16 in scale_sizes
    activation_zero_points = [
        initializers[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2
    ]
    assert activation_zero_points and all(z.dtype == np.uint8 for z in activation_zero_points)

    fp32 = baselines.OnnxRuntimeRunner(variants["onnxruntime_fp32"]["model_path"], tiny["input"], num_threads=1)
    int8 = baselines.OnnxRuntimeRunner(int8_path, tiny["input"], num_threads=1, inference_precision="int8")
    torch_out = baselines.TorchEagerRunner(tiny["module"], tiny["input"], num_threads=1).infer(tiny["input"])[0]
    fp32_out = fp32.infer(tiny["input"])[0]
    int8_out = int8.infer(tiny["input"])[0]
    np.testing.assert_allclose(fp32_out, torch_out, rtol=1e-4, atol=1e-5)
    scale = np.abs(fp32_out).max()
    assert np.abs(int8_out - fp32_out).max() < 0.05 * scale
    assert not np.allclose(int8_out, fp32_out, rtol=0, atol=1e-7)  # it really is quantized


def test_summarize_uses_benchmark_app_definitions() -> None:
    window = baselines.Measurement(latencies_ms=[float(x) for x in range(10, 0, -1)], duration_s=0.5)
    bench = baselines.summarize(
        [window], first_inference_ms=30.0, compile_ms=None, num_threads=2, inference_precision="f32"
    )
    assert bench["count"] == 10 and bench["throughput_fps"] == pytest.approx(20.0)
    # nearest rank: sorted[ceil(n * p / 100) - 1]
    assert bench["latency_ms"]["median"] == 5.0 and bench["latency_ms"]["p90"] == 9.0
    assert bench["latency_ms"]["p99"] == 10.0 and bench["latency_ms"]["min"] == 1.0
    assert bench["latency_percentiles_ms"][0] == 1.0 and bench["latency_percentiles_ms"][100] == 10.0
    slow = baselines.Measurement(latencies_ms=[1.0] * 10, duration_s=1.0)
    fast = baselines.Measurement(latencies_ms=[1.0] * 10, duration_s=0.5)
    repeated = baselines.summarize(
        [slow, fast, slow], first_inference_ms=None, compile_ms=None, num_threads=1, inference_precision="f32"
    )
    assert repeated["throughput_fps"] == pytest.approx(10.0)  # median of 10, 20, 10
    assert repeated["spread"] == pytest.approx(1.0) and repeated["noisy"] is True
    assert repeated["count"] == 30 and repeated["duration_s"] == pytest.approx(2.5)


def test_runner_defaults_and_input_mapping(variants: dict[str, dict[str, Any]], tiny: dict[str, Any]) -> None:
    path = variants["onnxruntime_fp32"]["model_path"]
    runner = baselines.OnnxRuntimeRunner(path, tiny["input"])
    assert runner.num_threads == baselines.usable_cores()
    name = runner.session.get_inputs()[0].name
    by_name = runner.infer({name: tiny["input"]})[0]
    np.testing.assert_array_equal(by_name, runner.infer([tiny["input"]])[0])
    with pytest.raises(DataMismatchError, match="expects 1 input"):
        runner.infer([tiny["input"], tiny["input"]])
    window = runner.measure(duration_s=0.05)
    assert window.count > 0 and window.duration_s >= 0.05


def test_missing_onnxruntime_is_a_dependency_error(
    monkeypatch: pytest.MonkeyPatch, tiny: dict[str, Any], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(DependencyError) as caught:
        baselines.baseline_variants(
            inputs=tiny["input"],
            work_dir=tmp_path,
            module=tiny["module"],
            kinds=["onnxruntime_fp32"],
            iterations=1,
        )
    assert "pip install onnxruntime" in caught.value.hint
    assert caught.value.exit_code == 9


def test_unknown_kind_is_refused(tiny: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown baseline kinds"):
        baselines.baseline_variants(inputs=tiny["input"], work_dir=tmp_path, kinds=["tensorflow"])
