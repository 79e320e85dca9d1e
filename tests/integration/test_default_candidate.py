"""The plugin's default precision is always a candidate; every variant is profiled; warnings reach every view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ovq.pipeline.runner import run_pipeline
from ovq.report.console import render_console_table
from ovq.runtime.execution_precision import default_inference_precision
from tests import tiny_models

pytestmark = pytest.mark.cpu_class

FACTORY = f"{Path(tiny_models.__file__).resolve()}:tiny_cnn"
PLUGIN_DEFAULT = default_inference_precision()
needs_non_f32_default = pytest.mark.skipif(
    PLUGIN_DEFAULT == "f32", reason="this CPU's default inference precision is f32: no separate default candidate"
)


def write_pipeline(folder: Path, stages: list[dict[str, Any]], **extra: Any) -> Path:
    config: dict[str, Any] = {
        "name": "default-candidate",
        "model": {"factory": FACTORY},
        "datasets": {"data": {"path": str(tiny_models.write_npz(folder / "data.npz"))}},
        "stages": [{"stage": "export"}, *stages],
        **extra,
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variant["name"]: variant for variant in report["variants"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("default_candidate")
    path = write_pipeline(
        folder,
        [
            {"stage": "quantize", "dataset": "data", "subset_size": 8},
            # Weight-only int8 on a model this small: the dequantization nodes outweigh the saved bytes.
            {"stage": "compress_weights", "name": "int8_weights", "mode": "int8_sym"},
            {"stage": "compile", "hint": "throughput"},
            {"stage": "benchmark", "iterations": 200, "repeats": 2, "profile_iterations": 5},
        ],
    )
    return run_pipeline(path, output_dir=folder / "run", cache=False), folder / "run"


@needs_non_f32_default
def test_default_precision_variant_is_added_and_measured(run: tuple[dict[str, Any], Path]) -> None:
    report, _ = run
    variants = by_name(report)
    default = variants["fp32-default"]
    assert default["role"] == "default_precision"
    assert default["compile"]["inference_precision"] == PLUGIN_DEFAULT
    assert variants["fp32"]["compile"]["inference_precision"] == "f32"  # the reference stays true f32
    assert default["model_path"] == variants["fp32"]["model_path"]  # the same IR, not a copy
    compile_stage = next(s for s in report["stages"] if s["kind"] == "compile")
    assert compile_stage["details"]["default_candidate"]["added"] is True
    for name in ("fp32", "int8", "int8_weights", "fp32-default"):
        assert variants[name]["benchmark"]["default_variant"] == "fp32-default"
        assert variants[name]["benchmark"]["speedup_vs_default"] > 0
    assert variants["fp32-default"]["benchmark"]["speedup_vs_default"] == pytest.approx(1.0)


@pytest.mark.skipif(PLUGIN_DEFAULT != "f32", reason="default is not f32: a variant of its own")
def test_on_an_f32_default_the_fp32_model_itself_is_the_default_candidate(run: tuple[dict[str, Any], Path]) -> None:
    report, _ = run
    variants = by_name(report)
    assert "fp32-default" not in variants  # the same compiled model is never measured twice
    assert variants["fp32"]["role"] == "default_precision"
    assert variants["fp32"]["compile"]["inference_precision"] == "f32"
    compile_stage = next(s for s in report["stages"] if s["kind"] == "compile")
    assert compile_stage["details"]["default_candidate"]["variant"] == "fp32"
    # One bar, so one column: "vs default" would repeat "vs FP32".
    assert all(v["benchmark"].get("speedup_vs_default") is None for v in variants.values())
    # Never warned twice about the same bar: "slower than fp32" and "slower than the default" are one.
    for name in ("int8", "int8_weights"):
        kinds = [w["kind"] for w in variants[name]["warnings"]]
        assert sum(kind in ("slower_than_default", "slower_than_reference") for kind in kinds) <= 1, kinds


def test_every_variant_is_profiled_on_a_separate_run(run: tuple[dict[str, Any], Path]) -> None:
    report, run_dir = run
    variants = by_name(report)
    for variant in variants.values():
        profile = variant["profile"]
        assert profile["iterations"] >= 5 and profile["total_ms"] > 0
        assert profile["top_layers"] and sum(e["share"] for e in profile["by_precision"].values()) == pytest.approx(
            1.0, abs=0.01
        )
    int8 = variants["int8"]["profile"]
    assert "int8" in int8["by_precision"]
    assert int8["quantized"]["operations"] >= 2 and int8["quantized"]["int8_executed"] >= 2
    if PLUGIN_DEFAULT != "f32":
        # Each quantized op is compared with the same op of the default-precision variant, matched by name.
        assert int8["quantized"]["vs_default"]["compared"] >= 2
    assert variants["int8_weights"]["profile"]["quantized"]["operations"] >= 2
    benchmark_stage = next(s for s in report["stages"] if s["kind"] == "benchmark")
    assert 0 < benchmark_stage["details"]["profile_s"] < benchmark_stage["duration_s"]
    markdown = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert "## Where the time goes" in markdown and "Where the time goes</h2>" in html
    assert variants["int8"]["profile"]["top_layers"][0]["name"] in markdown


def test_a_larger_compressed_variant_is_warned_about_in_every_view(run: tuple[dict[str, Any], Path]) -> None:
    report, run_dir = run
    variants = by_name(report)
    weights = variants["int8_weights"]
    assert weights["size_bytes"] > variants["fp32"]["size_bytes"]  # made larger on purpose (tiny model)
    larger = [w for w in weights["warnings"] if w["kind"] == "larger_than_reference"]
    assert len(larger) == 1 and larger[0]["ratio"] > 1.0
    message = larger[0]["message"]
    assert message.startswith("int8_weights is larger than fp32 (FP32)")
    assert message in (run_dir / "report.md").read_text()
    assert message in (run_dir / "report.html").read_text()  # nothing in it needs HTML escaping
    caption = str(render_console_table(report).caption)
    assert message in caption
    # The default and the reference are never warned about; the deliverable choice sees the default too.
    assert variants["fp32"]["warnings"] == [] and variants.get("fp32-default", {}).get("warnings", []) == []


def test_opting_out_and_declared_default_are_respected(tmp_path: Path) -> None:
    opted_out = write_pipeline(tmp_path, [{"stage": "compile", "default_candidate": False}])
    report = run_pipeline(opted_out, output_dir=tmp_path / "out", cache=False)
    assert [v["name"] for v in report["variants"]] == ["fp32"]
    details = next(s for s in report["stages"] if s["kind"] == "compile")["details"]["default_candidate"]
    assert details["added"] is False

    declared = tmp_path / "declared"
    declared.mkdir()
    path = write_pipeline(declared, [{"stage": "precision", "name": "mine", "mode": "default"}, {"stage": "compile"}])
    report = run_pipeline(path, output_dir=declared / "out", cache=False)
    assert [v["name"] for v in report["variants"]] == ["fp32", "mine"]  # not added twice
    assert by_name(report)["mine"]["role"] == "default_precision"


@needs_non_f32_default
def test_the_default_candidate_is_replayed_from_the_stage_cache(tmp_path: Path) -> None:
    from ovq.pipeline.cache import StageCache

    path = write_pipeline(tmp_path, [{"stage": "compile"}, {"stage": "benchmark", "iterations": 20}])
    cache = StageCache(tmp_path / "cache")
    first = run_pipeline(path, output_dir=tmp_path / "a", cache=cache)
    second = run_pipeline(path, output_dir=tmp_path / "b", cache=cache)
    assert all(stage["cached"] for stage in second["stages"])
    for report in (first, second):
        default = by_name(report)["fp32-default"]
        assert default["role"] == "default_precision" and default["profile"]["total_ms"] > 0
