"""Models with several inputs and a 0-d (scalar) input, like a voice-activity model's sample rate."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ovq.config.schema import parse_pipeline
from ovq.errors import DataMismatchError
from ovq.pipeline.runner import run_pipeline
from ovq.runtime.convert import export_model_explained

SAMPLES = 64


class _Vad(torch.nn.Module):
    """Two inputs: audio frames [batch, samples] (dynamic) and the sample rate, a 0-d int64."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(SAMPLES, 2)

    def forward(self, x: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x * (sr.to(torch.float32) / 16000.0)), dim=-1)


@pytest.fixture(scope="module")
def vad_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vad") / "vad.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Vad().eval(),
            (torch.zeros(1, SAMPLES), torch.tensor(16000, dtype=torch.int64)),
            str(path),
            dynamo=False,
            input_names=["x", "sr"],
            output_names=["prob"],
            dynamic_axes={"x": {0: "batch", 1: "samples"}},
            opset_version=17,
        )
    return path


def _frames(count: int = 16) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((count, SAMPLES)).astype(np.float32)


def _config(onnx: Path, dataset: dict[str, Any], *, benchmark_dataset: bool) -> dict[str, Any]:
    return {
        "name": "vad",
        "model": {"onnx": str(onnx)},
        "datasets": {"audio": dataset},
        "metrics": {"agreement": {"function": "cosine", "against": "reference"}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "audio", "subset_size": 8},
            {"stage": "compile", "hint": "latency"},
            {"stage": "evaluate", "dataset": "audio"},
            {"stage": "benchmark", "iterations": 20, **({"dataset": "audio"} if benchmark_dataset else {})},
        ],
    }


@pytest.mark.parametrize("benchmark_dataset", [False, True], ids=["random-inputs", "dataset-inputs"])
def test_npz_by_input_name_with_a_shared_scalar(vad_onnx: Path, tmp_path: Path, benchmark_dataset: bool) -> None:
    np.savez(tmp_path / "audio.npz", x=_frames(), sr=np.array(16000, np.int64))
    dataset = {"path": str(tmp_path / "audio.npz")}
    config = parse_pipeline(_config(vad_onnx, dataset, benchmark_dataset=benchmark_dataset))
    report = run_pipeline(config, output_dir=tmp_path / "run", cache=False)
    assert report["status"] == "succeeded"
    export = report["stages"][0]["details"]
    assert export["inputs"] == "x[1,64], sr[]"
    assert export["input_shapes_from"] == "the first item of dataset 'audio'"
    for variant in report["variants"]:
        assert variant["benchmark"]["count"] >= 20
        assert variant["metrics"]["agreement"]["value"] > 0.99
    assert report["datasets"]["audio"]["input_shapes"] == [[1, 64], []]


def test_a_per_item_sample_rate_sliced_to_one_element_feeds_the_scalar(vad_onnx: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "audio.npz", x=_frames(8), sr=np.full(8, 16000, np.int64))
    config = parse_pipeline(_config(vad_onnx, {"path": str(tmp_path / "audio.npz")}, benchmark_dataset=True))
    report = run_pipeline(config, output_dir=tmp_path / "run", cache=False)
    assert report["status"] == "succeeded"
    assert report["variants"][0]["benchmark"]["count"] >= 20


def test_a_missing_input_lists_the_model_inputs(vad_onnx: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "audio.npz", x=_frames())
    config = parse_pipeline(_config(vad_onnx, {"path": str(tmp_path / "audio.npz")}, benchmark_dataset=False))
    with pytest.raises(DataMismatchError, match=r"no data for model input\(s\) \['sr'\].*inputs are \['x', 'sr'\]"):
        run_pipeline(config, output_dir=tmp_path / "run", cache=False)


def dict_items() -> list[tuple[dict[str, np.ndarray], None]]:
    """A dataset factory yielding {input name: array} items (used by the test below)."""
    return [({"x": frame[None], "sr": np.array(8000, np.int64)}, None) for frame in _frames(6)]


def test_factory_dict_items_and_input_shapes_given_to_the_converter(vad_onnx: Path, tmp_path: Path) -> None:
    config = _config(vad_onnx, {"factory": f"{Path(__file__).resolve()}:dict_items"}, benchmark_dataset=True)
    config["stages"][0]["input_shapes"] = {"x": [1, SAMPLES], "sr": []}
    report = run_pipeline(parse_pipeline(config), output_dir=tmp_path / "run", cache=False)
    assert report["stages"][0]["details"]["input_shapes_from"] == "export.input_shapes"
    assert report["variants"][1]["metrics"]["agreement"]["value"] > 0.99


def test_convert_takes_shapes_up_front(vad_onnx: Path) -> None:
    model, origin = export_model_explained(vad_onnx, input_shapes={"x": [4, SAMPLES], "sr": []})
    assert origin == "export.input_shapes"
    assert [str(p.get_partial_shape()) for p in model.inputs] == ["[4,64]", "[]"]
    kept, origin = export_model_explained(vad_onnx, static_shapes=False)
    assert origin == "kept dynamic" and kept.inputs[0].get_partial_shape().is_dynamic
