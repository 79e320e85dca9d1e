"""Execution precision read from the runtime graph: an NNCF-quantized model shows int8, f32 shows none."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovq.runtime.execution_precision import (
    execution_precision,
    execution_precision_summary,
    runtime_settings,
)


def small_cnn() -> ov.Model:
    """Two convolutions and a fully connected layer: enough compute layers for NNCF to quantize."""
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 32, 32], np.float32, name="image")

    def weights(*shape: int) -> ov.Node:
        return ops.constant(rng.standard_normal(shape).astype(np.float32))

    conv1 = ops.convolution(x, weights(16, 3, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    conv2 = ops.convolution(ops.relu(conv1), weights(16, 16, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    pooled = ops.reduce_mean(ops.relu(conv2), ops.constant(np.array([2, 3])), keep_dims=False)
    logits = ops.matmul(pooled, weights(16, 10), False, False)
    return ov.Model([logits], [x], "small_cnn")


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


def test_f32_model_runs_no_int8_layer(core: ov.Core) -> None:
    compiled = core.compile_model(small_cnn(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    counts = execution_precision(compiled)
    assert "int8" not in counts
    assert counts.get("f32", 0) > 0
    summary = execution_precision_summary(compiled)
    assert summary.compute_int8_share == 0.0
    assert summary.compute_precision == "f32"
    assert sum(summary.compute_layers.values()) == 3  # two convolutions, one fully connected / matmul
    assert summary.layers == counts


def test_nncf_quantized_model_runs_int8_compute_layers(core: ov.Core) -> None:
    import nncf

    rng = np.random.default_rng(1)
    calibration = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(8)]
    quantized = nncf.quantize(small_cnn(), nncf.Dataset(calibration), subset_size=8)
    compiled = core.compile_model(quantized, "CPU")
    counts = execution_precision(compiled)
    assert counts["int8"] >= 3
    summary = execution_precision_summary(compiled)
    assert summary.compute_int8_share == 1.0
    assert summary.compute_precision == "int8"
    assert summary.by_type["Convolution"] == {"int8": 2}
    assert set(summary.to_dict()) == {
        "layers",
        "compute_layers",
        "compute_int8_share",
        "compute_precision",
        "by_type",
    }


def test_runtime_settings_read_back_what_the_plugin_chose(core: ov.Core) -> None:
    compiled = core.compile_model(
        small_cnn(), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    )
    settings = runtime_settings(compiled)
    assert settings["hint"] == "latency"
    assert settings["inference_precision"] == "f32"
    assert settings["num_streams"] == 1
    assert settings["optimal_num_requests"] == 1
    assert isinstance(settings["num_threads"], int) and settings["num_threads"] >= 1
