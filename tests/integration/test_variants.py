"""Several variants side by side: precision variants, INT8, and the PyTorch / ONNX Runtime baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ovq.pipeline.runner import run_pipeline
from tests import tiny_models
from tests.cpu import HAS_BF16, PLUGIN_DEFAULT

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("variants")
    config: dict[str, Any] = {
        "name": "variants",
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(folder / "data.npz"))}},
        "metrics": {"cosine": {"function": "cosine", "against": "reference"}},
        "stages": [
            {"stage": "export"},
            {"stage": "precision", "name": "fp16", "mode": "fp16"},
            {"stage": "precision", "name": "bf16", "mode": "bf16"},
            {"stage": "precision", "name": "fp32-default", "mode": "default"},
            {"stage": "quantize", "dataset": "data", "subset_size": 8},
            {
                "stage": "compress_weights",
                "name": "int8_weights",
                "mode": "int8_sym",
                "dynamic_quantization_group_size": 0,
            },
            {"stage": "compile", "hint": "latency", "inference_precision": "f32"},
            {"stage": "evaluate", "dataset": "data"},
            {
                "stage": "benchmark",
                "iterations": 30,
                "repeats": 2,
                "baselines": ["pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8"],
            },
        ],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return run_pipeline(path, output_dir=folder / "run", cache=False)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variant["name"]: variant for variant in report["variants"]}


@pytest.mark.cpu_class
def test_precision_variants_compile_as_declared(report: dict[str, Any]) -> None:
    variants = by_name(report)
    assert variants["fp32"]["compile"]["inference_precision"] == "f32"
    # The compile stage asks f32 for compressed variants; the precision variants override it.
    # bf16 is what the plugin resolves where the CPU computes in it; elsewhere it runs f32 and says so.
    assert variants["bf16"]["compile"]["inference_precision"] == ("bf16" if HAS_BF16 else "f32")
    assert variants["fp32-default"]["compile"]["inference_precision"] == PLUGIN_DEFAULT
    assert variants["fp16"]["compile"]["inference_precision"] == "f32"
    weights = {n: Path(variants[n]["model_path"]).with_suffix(".bin").stat().st_size for n in ("fp16", "fp32")}
    assert weights["fp16"] < 0.6 * weights["fp32"]  # the tiny model's .xml dwarfs its weights; compare .bin
    assert ("bf16" in variants["bf16"]["execution_precision"]) == HAS_BF16
    if not HAS_BF16:
        assert any("has no bf16 compute" in w for w in report["warnings"]), report["warnings"]
    assert variants["int8"]["execution_compute"]["int8_share"] > 0.5
    assert variants["int8_weights"]["precision"] == "int8_weights"
    assert variants["int8_weights"]["compile"]["properties"]["DYNAMIC_QUANTIZATION_GROUP_SIZE"] == 0
    for name in ("fp16", "bf16", "fp32-default", "int8", "int8_weights"):
        assert variants[name]["metrics"]["cosine"]["value"] > 0.9


def test_baselines_sit_beside_the_variants(report: dict[str, Any]) -> None:
    variants = by_name(report)
    for name in ("pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8"):
        baseline = variants[name]
        assert baseline["baseline"] is True
        bench = baseline["benchmark"]
        assert bench["count"] > 0 and bench["throughput_fps"] > 0
        assert bench["speedup_vs_reference"] == pytest.approx(
            bench["throughput_fps"] / variants["fp32"]["benchmark"]["throughput_fps"]
        )
    assert variants["onnxruntime_int8"]["precision"] == "int8"
    # The peers' ONNX files live in the benchmark stage's own folder (so a cached replay brings them along).
    run_dir = Path(report["run_dir"])
    for name in ("onnxruntime_fp32", "onnxruntime_int8"):
        path = Path(variants[name]["model_path"])
        assert path.is_file() and path.parent == run_dir / "stages" / "08-benchmark", path
