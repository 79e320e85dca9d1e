"""Run every robustness case: exit code, a one-line message with a hint, no traceback, nothing half-written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ovq.cli.app import app
from tests.robustness.cases import CASES, HELD_LOCKS, Case

REPO = Path(__file__).resolve().parents[2]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: Case, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    invocation = case.setup(tmp_path)
    env = {"OVQ_CACHE_DIR": os.environ.get("OVQ_CACHE_DIR", str(cache)), "COLUMNS": "200", **invocation.env}
    try:
        result = CliRunner().invoke(app, invocation.argv, env=env)
    finally:
        while HELD_LOCKS:
            os.close(HELD_LOCKS.pop())
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == case.exit_code, f"exit {result.exit_code}, expected {case.exit_code}:\n{output}"
    if case.exit_code != 0:
        error_lines = [line for line in output.splitlines() if line.startswith("error")]
        assert len(error_lines) == 1, f"expected one error line:\n{output}"
        assert case.message in error_lines[0], f"{case.message!r} not in {error_lines[0]!r}"
        following = output.splitlines()[output.splitlines().index(error_lines[0]) + 1 :]
        assert following and following[0].startswith("hint: ") and len(following[0]) > len("hint: "), output
    if invocation.run_dir is not None:
        _assert_nothing_half_written(invocation.run_dir)
        report_file = invocation.run_dir / "report.json"
        if case.exit_code == 0 or case.report_check is not None:
            report = json.loads(report_file.read_text())
            if case.exit_code == 0:
                assert any(case.message in w for w in report["warnings"]), report["warnings"]
            if case.report_check is not None:
                assert case.report_check(report), json.dumps(report, indent=1)[:3000]
        elif report_file.exists():
            report = json.loads(report_file.read_text())
            assert report["status"] == "failed" and report["error"]["message"], report
    _assert_nothing_half_written(Path(env["OVQ_CACHE_DIR"]))


def _assert_nothing_half_written(folder: Path) -> None:
    if not folder.is_dir():
        return
    leftovers = [
        p for p in folder.rglob("*") if p.name.startswith((".staging", ".ovq-write-probe")) or p.name.endswith(".tmp")
    ]
    assert leftovers == [], leftovers


def test_docs_table_is_up_to_date() -> None:
    from tests.robustness.render_doc import render

    page = REPO / "docs" / "reference" / "robustness.md"
    assert page.read_text() == render(), "regenerate: python -m tests.robustness.render_doc"
