"""JUnit XML and the Markdown summary of a nightly result."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ovq.nightly.ci_output import render_markdown, write_junit, write_markdown
from ovq.nightly.gates import GateResult
from ovq.nightly.runner import NightlyResult, PipelineOutcome
from ovq.report.schema import Report, parse_report


def report(pipeline: str, *, status: str = "succeeded", error: dict[str, Any] | None = None) -> Report:
    return parse_report(
        {
            "schema_version": 1,
            "status": status,
            "pipeline": pipeline,
            "started_at": "2026-11-01T02:00:00+00:00",
            "environment": {"openvino": "2026.4.1", "nncf": "3.4.0", "cpu": "Test CPU"},
            "variants": []
            if status == "failed"
            else [
                {
                    "name": "int8",
                    "precision": "int8",
                    "size_bytes": 110_000,
                    "accuracy": {"metric": "top1", "value": 0.97},
                    "benchmark": {"throughput_fps": 3000.0, "latency_ms": {"median": 1.3}},
                }
            ],
            "error": error,
        }
    )


def gate(name: str, status: str, message: str, value: float | None = None, baseline: float | None = None) -> GateResult:
    return GateResult(name, "int8", name.split("_")[0], status, value, baseline, None, message)  # type: ignore[arg-type]


def sample_result(tmp_path: Path) -> NightlyResult:
    good = PipelineOutcome(
        path=tmp_path / "good.yaml",
        pipeline="good",
        report=report("good"),
        run_dir=tmp_path / "good",
        duration_s=3.0,
        gates=[
            gate("accuracy_regression", "passed", "int8 top1 held", 0.97, 0.97),
            gate("throughput_regression", "passed", "int8 throughput held", 3000.0, 3010.0),
            gate("latency_regression", "skipped", "not compared: another CPU"),
        ],
        baseline_source="last good run 1",
    )
    regressed = PipelineOutcome(
        path=tmp_path / "regressed.yaml",
        pipeline="regressed",
        report=report("regressed"),
        run_dir=tmp_path / "regressed",
        duration_s=4.0,
        gates=[
            # Text that XML and Markdown must both survive: markup, a table pipe, ANSI colour codes.
            gate(
                "accuracy_regression",
                "failed",
                "int8 top1 <0.97> & | dropped \x1b[31mred\x1b[0m\x00",
                0.97,
                0.99,
            ),
            gate("throughput_regression", "passed", "ok", 3000.0, 3000.0),
        ],
        changes=["OpenVINO 2026.3.0 → 2026.4.1"],
    )
    broken = PipelineOutcome(
        path=tmp_path / "broken.yaml",
        pipeline="broken",
        report=report(
            "broken",
            status="failed",
            error={"stage": "quantize", "type": "StageError", "message": "NNCF failed", "hint": "see log"},
        ),
        run_dir=tmp_path / "broken",
        duration_s=1.0,
        error_exit_code=3,
        notes=["nothing to compare with the baseline"],
    )
    return NightlyResult(outcomes=[good, regressed, broken], started_at="2026-11-01T02:00:00+00:00", duration_s=8.0)


def test_junit_has_one_case_per_pipeline_and_gate(tmp_path: Path) -> None:
    result = sample_result(tmp_path)
    path = write_junit(result, tmp_path / "out" / "junit.xml")

    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    # 3 pipeline cases + 5 gate cases; 1 failed gate; 1 run error; 1 skipped gate.
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "8",
        "1",
        "1",
        "1",
    )
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == {"ovq.nightly.good", "ovq.nightly.regressed", "ovq.nightly.broken"}
    assert len(list(root.iter("testcase"))) == 8

    (failure,) = list(suites["ovq.nightly.regressed"].iter("failure"))
    assert failure.get("type") == "accuracy_regression"
    assert failure.get("message") == "int8 top1 <0.97> & | dropped red\ufffd"
    assert "baseline: 0.99" in (failure.text or "")

    (error,) = list(suites["ovq.nightly.broken"].iter("error"))
    assert error.get("message") == "StageError: NNCF failed"
    assert "hint: see log" in (error.text or "")
    (skipped,) = list(suites["ovq.nightly.good"].iter("skipped"))
    assert skipped.get("message")
    assert not list(tmp_path.joinpath("out").glob(".*tmp"))  # the temporary file was renamed into place


def test_markdown_puts_failures_first_and_keeps_the_table_intact(tmp_path: Path) -> None:
    result = sample_result(tmp_path)
    text = render_markdown(result)
    assert text.startswith("## ❌ ovq nightly: 2 of 3 pipeline(s) failed (exit code 3)")
    what_failed = text.index("### What failed")
    table = text.index("### Pipelines")
    assert what_failed < table
    failures = text[what_failed:table]
    assert "- **broken** [quantize]: run failed (exit 3) — StageError: NNCF failed\n  - hint: see log" in failures
    assert "- **regressed** `accuracy_regression`: int8 top1 \\<0.97\\> & \\| dropped red\n" in failures

    rows = [line for line in text[table:].splitlines() if line.startswith("| ") and "---" not in line]
    header, *body = rows
    assert all(row.count(" | ") == header.count(" | ") for row in body), body
    # Failing pipelines are listed before the passing one; a failed gate's value is bold with its change.
    assert [row.split(" | ")[0].strip("| ") for row in body] == ["broken", "regressed", "good"]
    assert "**0.9700 (-0.0200)**" in body[1]
    assert "OpenVINO 2026.3.0 → 2026.4.1" in text

    path = write_markdown(result, tmp_path / "summary.md")
    assert path.read_text(encoding="utf-8") == text


def test_an_all_green_summary_says_so(tmp_path: Path) -> None:
    result = sample_result(tmp_path)
    result.outcomes = result.outcomes[:1]
    assert render_markdown(result).startswith("## ✅ ovq nightly: all 1 pipeline(s) passed")
    assert ET.parse(write_junit(result, tmp_path / "j.xml")).getroot().get("failures") == "0"
