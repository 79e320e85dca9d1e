"""The benchmark matrix: several hints, batch sizes and shapes for every variant in one run (real OpenVINO)."""

from __future__ import annotations

import copy
import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovq.benchmarking.matrix import MatrixCell, batched_feeds, benchmark_matrix, cell_shapes, matrix_cells
from ovq.config.schema import parse_pipeline
from ovq.errors import ConfigError
from ovq.pipeline.runner import run_pipeline
from ovq.report.console import render_console_matrix
from ovq.report.html import render_html
from ovq.report.markdown import render_markdown
from ovq.report.schema import parse_report
from tests import tiny_models

HINTS, BATCHES = ["latency", "throughput"], [1, 4]


@pytest.fixture(scope="module")
def tiny_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.write_ir(tmp_path_factory.mktemp("matrix") / "tiny.xml")


def _config(ir: Path, data: Path, matrix: dict[str, Any] | None) -> dict[str, Any]:
    benchmark: dict[str, Any] = {"stage": "benchmark", "duration_s": 0.2, "repeats": 2, "dataset": "data"}
    if matrix is not None:
        benchmark["matrix"] = matrix
    return {
        "name": "tiny-matrix",
        "model": {"ir": str(ir)},
        "datasets": {"data": {"path": str(data)}},
        "stages": [
            {"stage": "export"},
            # A second variant without calibration: the same IR at the plugin's default precision.
            {"stage": "precision", "name": "default", "mode": "default"},
            {"stage": "compile", "hint": "throughput"},
            benchmark,
        ],
    }


@pytest.fixture(scope="module")
def matrix_report(tiny_ir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("matrix-run")
    data = tiny_models.write_npz(folder / "data.npz", count=16)
    config = _config(tiny_ir, data, {"hint": HINTS, "batch": BATCHES, "duration_s": 0.1})
    return run_pipeline(parse_pipeline(config), output_dir=folder / "run", cache=False)


def test_the_matrix_has_every_cell_for_every_variant(matrix_report: dict[str, Any]) -> None:
    report = parse_report(matrix_report)
    matrix = report.matrix
    assert matrix is not None and matrix.reference == "fp32"
    assert [(c.hint, c.batch) for c in matrix.cells] == list(itertools.product(HINTS, BATCHES))
    assert {(e.variant, e.cell) for e in matrix.entries} == {
        (variant, cell.index) for variant in ("fp32", "default") for cell in matrix.cells
    }
    for entry in matrix.entries:
        cell = matrix.cells[entry.cell]
        assert entry.hint == cell.hint  # as the plugin resolved it
        assert entry.batch == cell.batch and entry.input_shapes == [[cell.batch, *tiny_models.INPUT_SHAPE[1:]]]
        # Two repeats asked for; rounds are added while a cell's comparison is undecided.
        assert entry.repeats is not None and entry.repeats >= 2 and len(entry.samples_per_s_runs) == entry.repeats
        assert entry.inputs == "dataset"  # the 1-sample items, joined into batches of the cell's size
        assert entry.latency_ms.median is not None and entry.latency_ms.p99 is not None
        assert entry.speedup_vs_reference is not None and entry.speedup_vs_reference > 0
        if entry.variant == "fp32":
            assert entry.speedup_vs_reference == 1.0 and entry.inference_precision == "f32"
            assert entry.vs_reference is None
    # Every other entry carries its paired comparison with fp32 in the same cell; where the default compiles
    # to the same thing as fp32 (an f32-default CPU) it is measured once and never ranked.
    default = next(v for v in report.variants if v.name == "default")
    same = default.benchmark is not None and default.benchmark.identical_to == "fp32"
    for entry in (e for e in matrix.entries if e.variant == "default"):
        comparison = entry.vs_reference
        assert comparison is not None and comparison.versus == "fp32"
        if same:
            assert comparison.verdict == "identical" and entry.identical_to == "fp32"
            assert entry.speedup_vs_reference == 1.0
        else:
            assert comparison.low is not None and comparison.high is not None
            assert comparison.low <= (comparison.ratio or 0) <= comparison.high
            assert comparison.verdict != "identical" and entry.identical_to is None
    # The plain benchmark of the deployment is still there, as without a matrix.
    assert all(v.benchmark is not None and v.benchmark.throughput_fps for v in report.variants)


def test_samples_are_batch_times_inferences(matrix_report: dict[str, Any]) -> None:
    matrix = parse_report(matrix_report).matrix
    assert matrix is not None
    for entry in matrix.entries:
        assert entry.count is not None and entry.samples == entry.batch * entry.count
        assert entry.samples_per_s == pytest.approx(entry.batch * (entry.inferences_per_s or 0.0))
        assert sorted(entry.samples_per_s_runs)[0] <= (entry.samples_per_s or 0) <= sorted(entry.samples_per_s_runs)[-1]


def test_every_view_shows_the_matrix(matrix_report: dict[str, Any]) -> None:
    markdown = render_markdown(matrix_report)
    assert "## Benchmark matrix" in markdown and "samples/s = batch × inferences/s" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| throughput · batch 4 |")]
    assert [row.split(" | ")[1] for row in rows] == ["fp32", "default"]
    entry = parse_report(matrix_report).matrix.entry("default", 3)  # type: ignore[union-attr]
    assert entry is not None and f"{entry.samples_per_s:,.1f}" in rows[1]
    assert ("= fp32" if entry.identical_to else f"[{entry.vs_reference.low:.2f}–") in rows[1]  # type: ignore[union-attr]

    page = render_html(matrix_report)
    section = page[page.index("<h2>Benchmark matrix</h2>") :]
    assert "Throughput vs batch" in section and "<svg" in section and "latency · batch 1" in section

    from rich.console import Console

    console = Console(file=io.StringIO(), width=160, record=True)
    table = render_console_matrix(matrix_report)
    assert table is not None
    console.print(table)
    text = console.export_text()
    assert "latency · batch 4" in text and "default" in text and "paired speed-up vs fp32" in text


def test_no_matrix_keeps_the_plain_benchmark(tiny_ir: Path, tmp_path: Path) -> None:
    data = tiny_models.write_npz(tmp_path / "data.npz", count=4)
    config = _config(tiny_ir, data, None)
    config["stages"][-1].update(duration_s=0.1, repeats=1)
    report = run_pipeline(parse_pipeline(config), output_dir=tmp_path / "run", cache=False)
    assert report.get("matrix") is None
    assert "Benchmark matrix" not in render_markdown(report) and render_console_matrix(report) is None
    assert all(v["benchmark"]["throughput_fps"] > 0 for v in report["variants"])


def test_a_cached_benchmark_stage_replays_its_matrix(tiny_ir: Path, tmp_path: Path) -> None:
    data = tiny_models.write_npz(tmp_path / "data.npz", count=4)
    config = parse_pipeline(_config(tiny_ir, data, {"batch": [1, 2], "duration_s": 0.05}))
    first = run_pipeline(config, output_dir=tmp_path / "first")
    second = run_pipeline(config, output_dir=tmp_path / "second")
    assert [s["cached"] for s in second["stages"] if s["kind"] == "benchmark"] == [True]
    assert second["matrix"] == first["matrix"] and len(second["matrix"]["entries"]) == 4


def test_iterations_bookkeeping_per_batch(tiny_ir: Path) -> None:
    """samples = batch x iterations exactly, with a fixed iteration count (sync: no rounding to requests)."""
    result = benchmark_matrix({"a": tiny_ir}, matrix_cells(batch=[1, 3]), iterations=8, repeats=2, api="sync")
    for entry, batch in zip(result.entries, [1, 3], strict=True):
        record = entry.to_dict()
        assert record["count"] == 16 and record["samples"] == batch * 16
        assert record["samples_per_s"] == pytest.approx(batch * record["inferences_per_s"])
        assert entry.result.runs[0].count == 8


# ---- config errors, at validate time ---------------------------------------------------------------------

BASE: dict[str, Any] = {
    "name": "m",
    "model": {"recipe": "digits"},
    "stages": [{"stage": "export", "input_shapes": [[1, 1, 8, 8]]}, {"stage": "compile"}, {"stage": "benchmark"}],
}


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({}, "give at least one of hint, batch"),
        ({"batch": []}, "matrix.batch: List should have at least 1 item"),
        ({"batch": [0]}, "matrix.batch[0]: Input should be greater than or equal to 1"),
        ({"batch": [True]}, "a valid integer (got True, a bool)"),
        ({"batch": [8, 8]}, "batch: 8 is listed twice"),
        ({"hint": ["fastest"]}, "matrix.hint[0]: Input should be 'latency', 'throughput' or 'cumulative_throughput'"),
        ({"input_shapes": [[[1, 8, 8]]]}, "input #0 has rank 4 ([1, 1, 8, 8] in export.input_shapes), got [1, 8, 8]"),
        ({"input_shapes": [[[1, 1, 8, -1]]]}, "[1, 1, 8, -1] has a size < 1"),
        ({"input_shapes": [[[1, 1, 8, 8]], [[1, 8, 8]]]}, "every entry must name the same inputs with the same ranks"),
        ({"num_streams": ["many"]}, "matrix.num_streams[0]"),
        ({"batch": [1], "typo": 1}, "matrix.typo: unknown field"),
    ],
)
def test_matrix_config_errors(matrix: dict[str, Any], message: str) -> None:
    config = copy.deepcopy(BASE)
    config["stages"][2]["matrix"] = matrix
    with pytest.raises(ConfigError) as error:
        parse_pipeline(config)
    assert message in error.value.message


def test_sync_api_cannot_vary_requests_and_one_matrix_only() -> None:
    config = copy.deepcopy(BASE)
    config["stages"][2].update(api="sync", matrix={"num_requests": [1, 2]})
    with pytest.raises(ConfigError, match="sync api runs one request"):
        parse_pipeline(config)
    config = copy.deepcopy(BASE)
    config["stages"][2]["matrix"] = {"batch": [1, 2]}
    config["stages"].append(copy.deepcopy(config["stages"][2]))
    with pytest.raises(ConfigError, match=r"stages\[3\] \(benchmark\).matrix: only one benchmark stage"):
        parse_pipeline(config)


# ---- against the model, before anything is compiled ------------------------------------------------------


def test_shapes_are_checked_against_the_model(tiny_ir: Path) -> None:
    import openvino as ov

    model = ov.Core().read_model(tiny_ir)
    assert cell_shapes(model, MatrixCell(batch=8)) == [[8, 3, 16, 16]]
    assert cell_shapes(model, MatrixCell(batch=2, input_shapes=[[1, 3, 32, 32]])) == [[2, 3, 32, 32]]
    with pytest.raises(ConfigError, match=r"m\.input_shapes: input 'input' has rank 4 .*got \[1, 3, 16\]"):
        cell_shapes(model, MatrixCell(input_shapes=[[1, 3, 16]]), where="m")
    with pytest.raises(ConfigError, match="names unknown input 'image'"):
        cell_shapes(model, MatrixCell(input_shapes={"image": [1, 3, 16, 16]}))
    with pytest.raises(ConfigError, match="2 shape"):
        cell_shapes(model, MatrixCell(input_shapes=[[1, 3, 16, 16], [1]]))


def test_dataset_items_are_joined_into_batches() -> None:
    items = [np.full((1, 3, 4, 4), i, np.float32) for i in range(10)]
    feeds = batched_feeds(items, [[4, 3, 4, 4]])
    assert feeds is not None and len(feeds) == 2  # 10 items make two whole batches of 4
    assert feeds[1][0].shape == (4, 3, 4, 4) and feeds[1][0][:, 0, 0, 0].tolist() == [4, 5, 6, 7]
    assert batched_feeds(items, [[4, 3, 8, 8]]) is None  # another image size: random inputs instead
    assert batched_feeds([(np.zeros((1, 5)), np.array(16000))], [[1, 5], []]) is not None  # a shared scalar
