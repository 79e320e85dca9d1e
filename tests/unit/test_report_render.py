"""Rendering report.json into Markdown, HTML and the console table; comparing two runs."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from ovq.report.console import render_console_table
from ovq.report.diff import (
    change_direction,
    compare_reports,
    render_comparison_html,
    render_comparison_markdown,
    write_report_files,
)
from ovq.report.html import render_html
from ovq.report.markdown import render_markdown
from ovq.report.rows import (
    budget_threshold,
    variant_rows,
)


def _percentiles(median: float, tail: float) -> list[float]:
    # A plausible latency distribution: flat body, growing tail.
    return [median * (0.8 + 0.4 * p / 100) + tail * max(0.0, (p - 90) / 10) ** 2 for p in range(101)]


def _benchmark(fps: float, median: float, precision: str, *, noisy: bool = False, hint: str = "throughput") -> dict:
    percentiles = _percentiles(median, median * 0.5)
    return {
        "hint": hint,
        "inference_precision": precision,
        "num_requests": 2 if hint == "throughput" else 1,
        "num_streams": 2 if hint == "throughput" else 1,
        "num_threads": 2,
        "count": int(fps * 10),
        "duration_s": 10.02,
        "throughput_fps": fps,
        "latency_ms": {
            "median": percentiles[50],
            "average": sum(percentiles) / 101,
            "min": percentiles[0],
            "max": percentiles[100],
            "p50": percentiles[50],
            "p90": percentiles[90],
            "p95": percentiles[95],
            "p99": percentiles[99],
        },
        "latency_percentiles_ms": percentiles,
        "first_inference_ms": median * 3,
        "compile_ms": 412.5,
        "repeats": 3,
        "throughput_fps_runs": [fps * 0.97, fps, fps * 1.02],
        "spread": 0.18 if noisy else 0.05,
        "noisy": noisy,
    }


def full_report() -> dict[str, Any]:
    """A fabricated succeeded report using every field of the contract, plus two baselines."""
    accuracy = {
        "metric": "top1",
        "dataset": "validation",
        "reference": 0.9833,
        "higher_is_better": True,
        "samples": 540,
    }
    return {
        "schema_version": 1,
        "status": "succeeded",
        "pipeline": "quickstart",
        "pipeline_file": "pipelines/quickstart.yaml",
        "config_digest": "3f2a9c1e0b7d55aa",
        "started_at": "2026-11-22T05:00:00Z",
        "finished_at": "2026-11-22T05:01:12Z",
        "duration_s": 72.4,
        "environment": {
            "ovq": "0.1.0",
            "openvino": "2026.4.1",
            "nncf": "3.4.0",
            "torch": "2.13.0",
            "python": "3.11.7",
            "platform": "Linux-x86_64",
            "cpu": "Intel(R) Xeon(R) Processor",
            "cpu_count": 2,
            "cpu_flags": ["sse4_2", "avx2", "avx512f", "avx512_vnni", "amx_int8"],
        },
        "stages": [
            {
                "name": "export",
                "kind": "export",
                "status": "succeeded",
                "duration_s": 3.2,
                "cached": True,
                "details": {},
            },
            {
                "name": "int8",
                "kind": "quantize",
                "status": "succeeded",
                "duration_s": 11.9,
                "cached": False,
                "details": {},
            },
            {
                "name": "benchmark",
                "kind": "benchmark",
                "status": "succeeded",
                "duration_s": 45.0,
                "cached": False,
                "details": {},
            },
        ],
        "variants": [
            {
                "name": "fp32",
                "precision": "fp32",
                "source": None,
                "model_path": "runs/x/export/model.xml",
                "size_bytes": 102_400_000,
                "size_ratio": 1.0,
                "compile": {"hint": "throughput"},
                "accuracy": {**accuracy, "value": 0.9833, "drop": 0.0},
                "benchmark": _benchmark(29.5, 67.0, "f32"),
                "execution_precision": {"f32": 114, "i32": 2},
            },
            {
                "name": "fp32_default",
                "precision": "fp32",
                "source": "fp32",
                "model_path": "runs/x/export/model.xml",
                "size_bytes": 102_400_000,
                "size_ratio": 1.0,
                "compile": {"hint": "throughput"},
                "accuracy": {**accuracy, "value": 0.9815, "drop": 0.0018},
                "benchmark": _benchmark(41.0, 48.0, "bf16", noisy=True),
                "execution_precision": {"bf16": 57, "f32": 57, "i32": 2},
            },
            {
                "name": "int8",
                "precision": "int8",
                "source": "fp32",
                "model_path": "runs/x/int8/model.xml",
                "size_bytes": 26_100_000,
                "size_ratio": 0.2549,
                "compile": {"hint": "throughput"},
                "accuracy": {**accuracy, "value": 0.9796, "drop": 0.0037},
                "benchmark": _benchmark(97.3, 20.4, "bf16"),
                "execution_precision": {"u8": 57, "i8": 56, "f32": 2, "i32": 2},
            },
            {
                "name": "pytorch_eager",
                "precision": "fp32",
                "source": None,
                "baseline": True,
                "runtime": "pytorch",
                "model_path": None,
                "size_bytes": 102_200_000,
                "size_ratio": None,
                "compile": None,
                "accuracy": None,
                "benchmark": _benchmark(14.2, 70.1, "f32", hint="latency"),
                "execution_precision": None,
            },
            {
                "name": "onnxruntime_int8",
                "precision": "int8",
                "source": "onnxruntime_fp32",
                "baseline": True,
                "runtime": "onnxruntime",
                "model_path": "runs/x/baselines/baseline_int8.onnx",
                "size_bytes": 25_900_000,
                "size_ratio": None,
                "compile": None,
                "accuracy": None,
                "benchmark": _benchmark(81.0, 12.3, "int8", hint="latency"),
                "execution_precision": None,
            },
        ],
        "budget": {"metric": "top1", "max_drop": 0.01, "drop_type": "absolute", "met": True},
        "deliverable": "int8",
        "error": None,
    }


def failed_report() -> dict[str, Any]:
    """A run that failed in quantize: only the core fields, FP32 not benchmarked."""
    return {
        "schema_version": 1,
        "status": "failed",
        "pipeline": "quickstart",
        "started_at": "2026-11-22T05:00:00Z",
        "duration_s": 4.1,
        "environment": {
            "ovq": "0.1.0",
            "openvino": "2026.4.1",
            "nncf": "3.4.0",
            "torch": "2.13.0",
            "cpu": "Xeon",
        },
        "stages": [
            {"name": "export", "status": "succeeded", "duration_s": 3.0},
            {"name": "quantize", "status": "failed", "duration_s": 1.1},
        ],
        "variants": [
            {
                "name": "fp32",
                "precision": "fp32",
                "model_path": "runs/y/export/model.xml",
                "size_bytes": 40_000,
                "accuracy": None,
                "benchmark": None,
            },
        ],
        "error": {
            "stage": "quantize",
            "type": "DataMismatchError",
            "message": "calibration item 0 has shape [1, 3, 8, 8]; the model expects [1, 1, 8, 8]",
            "hint": "make the dataset yield arrays shaped like the model's inputs",
        },
    }


def _no_external_references(text: str) -> None:
    assert "http://" not in text
    assert "https://" not in text
    assert not re.search(r"""(src|href)=["'](?!#)""", text), "only in-page references are allowed"


def test_html_of_full_report_is_self_contained_and_has_the_numbers() -> None:
    page = render_html(full_report())
    _no_external_references(page)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2  # the trade-off scatter and the latency distribution
    for text in (
        "quickstart",
        "succeeded",
        "fp32_default",
        "pytorch_eager",
        "onnxruntime_int8",
        "97.3",
        "3.30×",
        "−75%",
        "0.9796",
        "+0.0037",
        "u8 49%",
        "noisy",
        "deliverable",
        "budget: 0.9733",
        "Accuracy vs throughput",
        "Latency distribution",
        "cached",
        "avx512_vnni",
        "true f32",
    ):
        assert text in page, text
    assert "sse4_2" not in page  # only the flags that matter for speed are listed


def test_markdown_of_full_report() -> None:
    markdown = render_markdown(full_report())
    assert markdown.startswith("# ovq report: quickstart")
    table_lines = [line for line in markdown.splitlines() if line.startswith("| **int8**")]
    assert len(table_lines) == 1
    cells = [c.strip() for c in table_lines[0].strip("|").split("|")]
    assert cells[:6] == ["**int8**", "int8", "26.1 MB", "−75%", "0.9796", "+0.0037"]
    assert cells[6] == "97.3" and cells[7] == "3.30×"
    assert "deliverable" in cells[-1]
    assert "Deliverable: **int8**" in markdown
    assert "| export | export | succeeded | 3.2 s | yes |" in markdown
    assert "noisy (spread 18%)" in markdown


def test_failed_report_renders_error_and_hint_everywhere() -> None:
    report = failed_report()
    markdown = render_markdown(report)
    assert "**Status:** failed" in markdown
    assert "> **Failed in stage `quantize`** (DataMismatchError): calibration item 0" in markdown
    assert "> **Hint:** make the dataset yield" in markdown
    assert "not benchmarked" in markdown
    page = render_html(report)
    _no_external_references(page)
    assert 'class="badge failed"' in page and "DataMismatchError" in page and "Hint:" in page
    assert "<svg" not in page  # nothing was measured, so there is nothing to plot
    table = render_console_table(report)
    assert table.caption is not None and "quantize" in str(table.caption)
    assert table.row_count == 1


def test_missing_optional_fields_and_null_sections_render() -> None:
    minimal = {
        "schema_version": 1,
        "status": "succeeded",
        "pipeline": "p",
        "started_at": "t",
        "duration_s": 1,
        "environment": {},
        "stages": [],
        "variants": [
            {
                "name": "fp32",
                "precision": "fp32",
                "size_bytes": 10,
                "accuracy": None,
                "benchmark": {"throughput_fps": 5.0},
            }
        ],
        "error": None,
    }
    assert "| fp32 | fp32 | 10 B |" in render_markdown(minimal)
    page = render_html(minimal)
    assert "Throughput (no accuracy measured)" in page  # bar chart fallback without accuracy
    assert page.count("<svg") == 1  # no percentiles -> no latency plot
    empty = {
        "status": "failed",
        "variants": None,
        "stages": None,
        "environment": None,
        "error": {"message": "x"},
    }
    assert "No variants were produced." in render_markdown(empty)
    assert "No variants were produced." in render_html(empty)


def test_console_table_columns_follow_the_report() -> None:
    table = render_console_table(full_report())
    headers = [str(c.header) for c in table.columns]
    assert "top1" in headers and "FPS" in headers
    assert table.row_count == 5
    fps_column = next(c for c in table.columns if c.header == "FPS")
    assert list(fps_column.cells)[2] == "97.3"


def test_budget_threshold_and_speedups() -> None:
    report = full_report()
    rows = variant_rows(report)
    threshold = budget_threshold(report, rows)
    assert threshold is not None and threshold[0] == "top1"
    assert threshold[1] == pytest.approx(0.9833 - 0.01)
    report["budget"] = {"metrics": [{"metric": "top1", "max_drop": 0.02, "drop_type": "relative", "reference": 0.5}]}
    assert budget_threshold(report, rows) == ("top1", pytest.approx(0.49))
    by_name = {r.name: r for r in rows}
    assert by_name["int8"].speedup == pytest.approx(97.3 / 29.5)
    assert by_name["pytorch_eager"].size_ratio == pytest.approx(102_200_000 / 102_400_000)
    assert by_name["onnxruntime_int8"].baseline and not by_name["int8"].baseline


def test_compare_reports_maths() -> None:
    run_a = full_report()
    run_b = copy.deepcopy(run_a)
    run_b["variants"][2]["benchmark"]["throughput_fps"] = 120.0
    run_b["variants"][2]["accuracy"]["value"] = 0.95
    run_b["variants"] = [
        *run_b["variants"][:3],
        {
            "name": "int4",
            "precision": "int4_weights",
            "size_bytes": 15_000_000,
            "accuracy": None,
            "benchmark": None,
        },
    ]
    comparison = compare_reports(run_a, run_b)
    int8 = next(v for v in comparison["variants"] if v["name"] == "int8")
    fps = int8["metrics"]["throughput_fps"]
    assert fps["a"] == 97.3 and fps["b"] == 120.0
    assert fps["delta"] == pytest.approx(22.7) and fps["ratio"] == pytest.approx(120.0 / 97.3)
    accuracy = int8["metrics"]["accuracy"]
    assert accuracy["delta"] == pytest.approx(0.95 - 0.9796)
    names = {v["name"]: v["present"] for v in comparison["variants"]}
    assert names["pytorch_eager"] == "a" and names["int4"] == "b" and names["fp32"] == "both"
    int4 = next(v for v in comparison["variants"] if v["name"] == "int4")
    assert int4["metrics"]["throughput_fps"] == {"a": None, "b": None, "delta": None, "ratio": None}
    zero = compare_reports(
        {"variants": [{"name": "v", "size_bytes": 0}]}, {"variants": [{"name": "v", "size_bytes": 5}]}
    )
    size = zero["variants"][0]["metrics"]["size_bytes"]
    assert size["delta"] == 5 and size["ratio"] is None  # no division by zero
    assert all(not (isinstance(x, float) and math.isnan(x)) for x in size.values())
    markdown = render_comparison_markdown(comparison)
    assert "| int8 | throughput (FPS) | 97.3 | 120.0 | +22.7 | 1.23× |" in markdown
    page = render_comparison_html(comparison)
    _no_external_references(page)
    assert "int4" in page and "1.23×" in page
    assert '<span class="better">+22.7</span>' in page  # more throughput is an improvement
    assert change_direction("latency_p99_ms", 3.0) == "worse" and change_direction("accuracy", 0.1) is None


def test_write_report_files_regenerates_atomically(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps(full_report()))
    (tmp_path / "report.md").write_text("stale")
    written = write_report_files(tmp_path)
    assert {p.name for p in written} == {"report.md", "report.html"}
    assert (tmp_path / "report.md").read_text().startswith("# ovq report: quickstart")
    assert "<svg" in (tmp_path / "report.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json", "report.md"]


def test_write_report_files_without_report_is_a_clear_error(tmp_path: Path) -> None:
    from ovq.errors import InputFileError

    with pytest.raises(InputFileError, match=r"report\.json"):
        write_report_files(tmp_path)
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        write_report_files(tmp_path)
