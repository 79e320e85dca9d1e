"""Rendering report.json into Markdown, HTML and the console table; comparing two runs.

Every report here is a golden file written by a REAL run (tests/fixtures/reports/regenerate.py); the expected
numbers are read from the golden itself, so a renderer that reads the wrong field fails.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

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
from ovq.report.rows import CACHED_NOTE, benchmark_cached, budget_threshold, variant_rows
from ovq.runtime.cpu_class import cpu_class

GOLDENS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
GOLDEN_NAMES = sorted(p.stem for p in GOLDENS.glob("*.json"))


def golden(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((GOLDENS / f"{name}.json").read_text(encoding="utf-8"))
    return document


def variant(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(v for v in report["variants"] if v["name"] == name)
    return found


def console_text(report: dict[str, Any]) -> str:
    console = Console(width=250, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_console_table(report))
    return console.export_text()


def markdown_row(markdown: str, label: str) -> list[str]:
    """The cells of `label`'s row in the variants table (the first table a variant appears in)."""
    lines = [line for line in markdown.splitlines() if line.startswith(f"| {label} |")]
    assert lines, label
    return [cell.strip() for cell in lines[0].strip("|").split("|")]


def _no_external_references(text: str) -> None:
    assert "http://" not in text
    assert "https://" not in text
    assert not re.search(r"""(src|href)=["'](?!#)""", text), "only in-page references are allowed"


def test_the_goldens_cover_the_cases_the_renderers_must_handle() -> None:
    assert set(GOLDEN_NAMES) >= {"quickstart", "budget_missed", "failed", "accuracy_control", "precision"}


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_every_golden_renders_in_every_view(name: str) -> None:
    report = golden(name)
    markdown, page, console = render_markdown(report), render_html(report), console_text(report)
    _no_external_references(page)
    assert markdown.startswith(f"# ovq report: {report['pipeline']}")
    assert f"**Status:** {report['status']}" in markdown
    assert f'class="badge {report["status"]}"' in page
    assert "schema_version 2" in page
    for entry in report["variants"]:
        assert entry["name"] in markdown and entry["name"] in page and entry["name"] in console
    for stage in report["stages"]:
        assert f"| {stage['name']} | {stage['kind']} | {stage['status']} |" in markdown
    if report["error"] is not None:
        assert report["error"]["message"] in markdown and report["error"]["type"] in page
        assert f"failed in {report['error']['stage']}" in console


def test_quickstart_budget_line_deliverable_and_numbers() -> None:
    report = golden("quickstart")
    fp32, int8 = variant(report, "fp32"), variant(report, "int8")
    bound = fp32["accuracy"]["value"] - report["budget"]["metrics"]["top1"]["max_drop"]
    rows = variant_rows(report)
    assert budget_threshold(report, rows) == ("top1", pytest.approx(bound))

    page = render_html(report)
    assert f"budget: {bound:.4g}" in page  # the dashed line of the trade-off plot
    assert f"The dashed line is the lowest top1 the budget accepts ({bound:.4g})" in page
    assert page.count("<svg") == 2
    deliverable_rows = re.findall(r'<tr class="deliverable"><td class="l">([^<]*)<', page)
    assert deliverable_rows == ["int8"]

    markdown = render_markdown(report)
    assert f"- top1: drop at most 0.01 (absolute) → at least {bound:.4g}" in markdown
    assert "Budget on `validation`, the fastest passing variant is delivered: met; deliverable **int8**." in markdown
    cells = markdown_row(markdown, "**int8**")
    assert cells[1] == "int8" and cells[4] == f"{int8['accuracy']['value']:.4f}"
    assert cells[5] == f"{int8['accuracy']['drop']:+.4f}"
    assert cells[6] == f"{int8['benchmark']['throughput_fps']:,.1f}"
    # The speed-up with its paired interval, and the verdict's word where it is not a clear difference.
    versus_fp32 = int8["benchmark"]["comparisons"]["reference"]
    word = {"tie": " tie", "undecided": " undecided"}.get(versus_fp32["verdict"], "")
    interval = f"[{versus_fp32['low']:.2f}–{versus_fp32['high']:.2f}]"
    assert cells[7] == f"{int8['benchmark']['speedup_vs_reference']:.2f}× {interval}{word}"
    reduction = 1 - int8["size_ratio"]
    assert cells[3] == f"−{reduction:.0%}"
    assert "deliverable" in cells[-1]
    assert "Deliverable: **int8**" in markdown
    assert "true f32" in markdown

    console = console_text(report)
    assert "int8 ★" in console and "fp32 ★" not in console
    assert f"top1: drop at most 0.01 (absolute) → at least {bound:.4g}): met, deliverable int8" in console


def test_accuracy_control_drops_and_per_variant_verdicts() -> None:
    report = golden("accuracy_control")
    markdown = render_markdown(report)
    verdicts = report["budget"]["variants"]
    assert report["deliverable"] == "int8" and verdicts["int8"]["met"] is True
    for name in ("ptq_int8", "int8"):
        entry = variant(report, name)
        label = f"**{name}**" if name == report["deliverable"] else name
        assert markdown_row(markdown, label)[5] == f"{entry['accuracy']['drop']:+.4f}"
        check = verdicts[name]["checks"][0]
        check_cells = [
            c.strip()
            for c in next(
                line
                for line in markdown.splitlines()
                if line.startswith(f"| {name} | {'met' if check['met'] else 'missed'} |")
            )
            .strip("|")
            .split("|")
        ]
        assert check_cells[2:6] == [
            "top1",
            f"{check['value']:.4f}",
            f"{check['reference']:.4f}",
            f"{check['drop']:+.4g}",
        ]
    # Plain PTQ of this model loses more than the budget allows; accuracy control recovers it.
    assert variant(report, "ptq_int8")["accuracy"]["drop"] > 0.01 >= variant(report, "int8")["accuracy"]["drop"]
    assert "| ptq_int8 | missed | top1 |" in markdown


def test_budget_missed_has_no_deliverable_and_says_why_numbers_are_empty() -> None:
    report = golden("budget_missed")
    assert report["deliverable"] is None and report["budget"]["met"] is False
    # The plotted metric is the first one (cosine); its budget line sits max_drop below FP32's value.
    check = report["budget"]["variants"]["int8"]["checks"][0]
    bound = check["reference"] - report["budget"]["metrics"]["cosine"]["max_drop"]
    assert budget_threshold(report, variant_rows(report)) == ("cosine", pytest.approx(bound))
    markdown = render_markdown(report)
    assert "**missed**: no deliverable" in markdown
    assert "- mse: drop at most 0 (relative)" in markdown
    # A relative drop from FP32's own MSE of zero is infinite: written as null, with the reason.
    assert report["budget"]["variants"]["int8"]["checks"][1]["drop"] is None
    assert report["nulls"]["/budget/variants/int8/checks/1/drop"] == "Infinity"
    assert "| int8 | missed | mse | 0.0000 | 0.0000 | Infinity | 0 rel. | Infinity |" in markdown
    assert "`/budget/variants/int8/checks/1/drop` is empty: Infinity" in markdown
    page = render_html(report)
    assert f"budget: {bound:.4g}" in page
    assert '<span class="worse">missed</span>: no deliverable' in page
    assert "<code>/budget/variants/int8/checks/1/drop</code> is empty: Infinity" in page
    console = console_text(report)
    assert "missed, no deliverable" in console and "★" not in console


def test_failed_run_renders_error_and_hint_everywhere() -> None:
    report = golden("failed")
    error = report["error"]
    markdown = render_markdown(report)
    assert f"> **Failed in stage `{error['stage']}`** ({error['type']}): {error['message']}" in markdown
    assert f"> **Hint:** {error['hint']}" in markdown
    assert "not benchmarked" in markdown
    page = render_html(report)
    assert 'class="badge failed"' in page and "Hint:" in page
    assert "<svg" not in page  # nothing was measured, so there is nothing to plot
    table = render_console_table(report)
    assert table.caption is not None and f"failed in {error['stage']}" in str(table.caption)
    assert table.row_count == len(report["variants"])


def test_precision_candidates_and_peer_runtimes() -> None:
    report = golden("precision")
    rows = {r.name: r for r in variant_rows(report)}
    # The golden ran on some CPU class: a bf16 request runs bf16 only where that class has bf16 compute.
    ran_bf16 = cpu_class(report["environment"]["cpu_class"]).bf16
    assert rows["fp32_default"].precision == "fp32"
    assert rows["bf16"].inference_precision == ("bf16" if ran_bf16 else "f32")
    peers = [r for r in rows.values() if r.baseline]
    assert {r.name for r in peers} == {"pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8"}
    markdown = render_markdown(report)
    for peer in peers:
        assert "baseline" in markdown_row(markdown, peer.name)[-1]
    # Said only when it is true: on an f32-only class every FP32 variant ran f32.
    assert ("The FP32 model was measured at several inference precisions" in markdown) == ran_bf16
    assert "Baselines (PyTorch eager, ONNX Runtime, LiteRT) are measured" in markdown
    fps = variant(report, "onnxruntime_int8")["benchmark"]["throughput_fps"]
    assert rows["onnxruntime_int8"].throughput_fps == fps
    assert render_html(report).count('<tr class="baseline">') == len(peers)


def with_cached_benchmark(report: dict[str, Any]) -> dict[str, Any]:
    """The golden as an unchanged rerun writes it: its benchmark stage replayed from the stage cache."""
    replayed = copy.deepcopy(report)
    stages = [stage for stage in replayed["stages"] if stage["kind"] == "benchmark"]
    assert stages
    for stage in stages:
        stage["cached"] = True
    return replayed


def test_benchmark_numbers_replayed_from_the_cache_are_marked_in_every_view() -> None:
    report = with_cached_benchmark(golden("precision"))
    assert benchmark_cached(report) is True
    measured = [v for v in report["variants"] if v["benchmark"] is not None]
    assert any(v["baseline"] for v in measured)  # the peers were measured by the same (replayed) stage
    markdown, page = render_markdown(report), render_html(report)
    console = console_text(report)
    for entry in measured:
        fps = f"{entry['benchmark']['throughput_fps']:,.1f}"
        label = f"**{entry['name']}**" if entry["name"] == report["deliverable"] else entry["name"]
        cells = markdown_row(markdown, label)
        assert f"{fps} cached" in cells, cells
        assert next(cell for cell in cells if " / " in cell).endswith(" cached")
        assert f"{fps} cached" in console
        assert f'<td>{fps} <span class="tag cached" title="replayed from the stage cache">cached</span></td>' in page
    assert f"- {CACHED_NOTE}" in markdown
    assert " ".join(CACHED_NOTE.split()) in " ".join(console.split())
    assert "were replayed from the stage cache (measured earlier, under another load;" in page
    assert "<code>ovq pipeline run --remeasure</code> measures them again." in page


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_fresh_benchmark_numbers_carry_no_cached_mark(name: str) -> None:
    report = golden(name)  # failed and precision have a cached export stage: only the benchmark's flag counts
    assert not benchmark_cached(report)
    assert not any(row.cached for row in variant_rows(report))
    markdown, page, console = render_markdown(report), render_html(report), console_text(report)
    assert "cached" not in console
    assert CACHED_NOTE not in markdown and "replayed from the stage cache" not in page
    table = markdown.split("## Variants", 1)[1].split("\n## ", 1)[0]
    assert " cached |" not in table


def test_budget_threshold_follows_the_limit_type_and_metric() -> None:
    report = golden("quickstart")
    reference = report["budget"]["variants"]["int8"]["checks"][0]["reference"]
    report["budget"]["metrics"]["top1"] = {"max_drop": 0.02, "drop_type": "relative"}
    assert budget_threshold(report, variant_rows(report)) == ("top1", pytest.approx(reference * 0.98))
    report["budget"]["metrics"] = {"other": {"max_drop": 0.5, "drop_type": "absolute"}}
    assert budget_threshold(report, variant_rows(report)) is None  # the plotted metric is not budgeted


def test_compare_reports_maths() -> None:
    run_a = golden("quickstart")
    run_b = copy.deepcopy(run_a)
    int8 = variant(run_b, "int8")
    fps_a = int8["benchmark"]["throughput_fps"]
    int8["benchmark"]["throughput_fps"] = fps_a * 1.25
    int8["accuracy"]["value"] = 0.95
    run_b["variants"].append({**copy.deepcopy(int8), "name": "int4", "benchmark": None, "accuracy": None})
    run_b["variants"] = [v for v in run_b["variants"] if v["name"] != "fp32"]
    comparison = compare_reports(run_a, run_b)
    entry = next(v for v in comparison["variants"] if v["name"] == "int8")
    fps = entry["metrics"]["throughput_fps"]
    assert fps["a"] == fps_a and fps["b"] == fps_a * 1.25
    assert fps["delta"] == pytest.approx(fps_a * 0.25) and fps["ratio"] == pytest.approx(1.25)
    assert entry["metrics"]["accuracy"]["delta"] == pytest.approx(0.95 - variant(run_a, "int8")["accuracy"]["value"])
    present = {v["name"]: v["present"] for v in comparison["variants"]}
    # The golden's other variants (fp32-default where its CPU class defaults to bf16) are in both runs.
    others = {v["name"]: "both" for v in run_a["variants"] if v["name"] not in ("fp32", "int8")}
    assert present == {"fp32": "a", "int8": "both", "int4": "b", **others}
    int4 = next(v for v in comparison["variants"] if v["name"] == "int4")
    assert int4["metrics"]["throughput_fps"] == {"a": None, "b": None, "delta": None, "ratio": None}
    markdown = render_comparison_markdown(comparison)
    assert (
        f"| int8 | throughput (FPS) | {fps_a:,.1f} | {fps_a * 1.25:,.1f} | +{fps_a * 0.25:,.1f} | 1.25× |" in markdown
    )
    page = render_comparison_html(comparison)
    _no_external_references(page)
    assert f'<span class="better">+{fps_a * 0.25:,.1f}</span>' in page  # more throughput is an improvement
    assert change_direction("latency_p99_ms", 3.0) == "worse" and change_direction("accuracy", 0.1) is None


def test_compare_reports_never_divides_by_zero() -> None:
    run_a, run_b = golden("failed"), golden("failed")
    variant(run_a, "fp32")["size_bytes"] = 0
    size = compare_reports(run_a, run_b)["variants"][0]["metrics"]["size_bytes"]
    assert size["delta"] == variant(run_b, "fp32")["size_bytes"] and size["ratio"] is None


def test_write_report_files_regenerates_atomically(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps(golden("quickstart")))
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


def test_ovq_report_renders_and_compares_goldens(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ovq.cli.app import app

    for name in ("quickstart", "accuracy_control"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(golden(name)))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "quickstart")])
    assert result.exit_code == 0, result.output
    assert "Deliverable: **int8**" in (tmp_path / "quickstart" / "report.md").read_text()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "quickstart"), str(tmp_path / "accuracy_control")])
    assert result.exit_code == 0, result.output
    assert "| int8 | throughput (FPS) |" in result.output and "`ptq_int8` only in run B" in result.output
    broken = golden("quickstart")
    broken["variants"][0]["size_bytes"] = "166 kB"
    (tmp_path / "quickstart" / "report.json").write_text(json.dumps(broken))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "quickstart")])
    assert result.exit_code == 6
    assert "variants.0.size_bytes" in " ".join(result.output.split())
