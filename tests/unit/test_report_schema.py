"""The report contract: typed fields, extras kept, no bare NaN written, version 1 upgraded, docs in sync."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ovq.errors import InputFileError
from ovq.report.schema import SCHEMA_VERSION, ReportFormatError, parse_report
from ovq.report.schema_docs import field_table_markdown
from ovq.report.store import read_report, report_json, write_report

REPO = Path(__file__).resolve().parents[2]
GOLDENS = sorted((REPO / "tests" / "fixtures" / "reports").glob("*.json"))


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"bare {name} in report.json")


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.stem)
def test_goldens_are_valid_and_writing_them_back_changes_nothing(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    document = json.loads(text, parse_constant=_reject_constant)
    report = parse_report(document)
    assert report.schema_version == SCHEMA_VERSION
    _, written = report_json(report)
    assert json.loads(written) == document  # no field lost, none invented


def test_unknown_fields_survive_a_read_and_a_write(tmp_path: Path) -> None:
    document = json.loads((REPO / "tests/fixtures/reports/quickstart.json").read_text())
    document["future_field"] = ["a newer ovq's top-level field"]
    document["variants"][1]["future_variant_field"] = {"layers": [{"name": "conv", "ms": 0.01}]}
    document["variants"][1]["benchmark"]["energy_j"] = 1.5
    write_report(tmp_path, document)
    again = read_report(tmp_path)
    assert again.model_extra == {"future_field": ["a newer ovq's top-level field"]}
    int8 = again.variant("int8")
    assert int8 is not None and int8.benchmark is not None
    assert (int8.model_extra or {})["future_variant_field"] == {"layers": [{"name": "conv", "ms": 0.01}]}
    assert (int8.benchmark.model_extra or {})["energy_j"] == 1.5


def test_non_finite_numbers_are_written_as_null_with_a_reason(tmp_path: Path) -> None:
    document = json.loads((REPO / "tests/fixtures/reports/quickstart.json").read_text())
    document["variants"][1]["accuracy"]["drop"] = math.nan
    document["variants"][1]["benchmark"]["throughput_fps"] = math.inf
    document["variants"][1]["profile"] = {"ratio": -math.inf}  # an extra field is cleaned too
    write_report(tmp_path, document)
    text = (tmp_path / "report.json").read_text()
    written = json.loads(text, parse_constant=_reject_constant)
    assert written["variants"][1]["accuracy"]["drop"] is None
    assert written["nulls"] == {
        "/variants/1/accuracy/drop": "NaN",
        "/variants/1/benchmark/throughput_fps": "Infinity",
        "/variants/1/profile/ratio": "-Infinity",
    }
    # The caller's dict now holds what the file holds, not the NaN.
    assert document["variants"][1]["benchmark"]["throughput_fps"] is None
    assert "is empty: NaN" in (tmp_path / "report.md").read_text()


def test_a_version_1_file_with_bare_nan_is_upgraded_on_read(tmp_path: Path) -> None:
    document = json.loads((REPO / "tests/fixtures/reports/budget_missed.json").read_text())
    document["schema_version"] = 1
    del document["nulls"]
    for check in document["budget"]["variants"]["int8"]["checks"]:
        if check["metric"] == "mse":
            check["drop"] = check["missed_by"] = math.inf  # how version 1 wrote them: bare Infinity
    (tmp_path / "report.json").write_text(json.dumps(document))
    assert "Infinity" in (tmp_path / "report.json").read_text()
    report = read_report(tmp_path)
    assert report.schema_version == 2
    assert report.budget is not None and report.budget.variants["int8"].checks[1].drop is None
    assert report.nulls["/budget/variants/int8/checks/1/drop"] == "Infinity"


def test_wrong_types_and_unknown_versions_are_named(tmp_path: Path) -> None:
    document = json.loads((REPO / "tests/fixtures/reports/quickstart.json").read_text())
    document["variants"][1]["benchmark"]["throughput_fps"] = "fast"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputFileError, match=r"variants\.1\.benchmark\.throughput_fps: Input should be a valid number"):
        read_report(path)
    document["variants"][1]["benchmark"]["throughput_fps"] = True  # a bool is not a number
    with pytest.raises(ReportFormatError, match="throughput_fps"):
        parse_report(document)
    path.write_text(json.dumps({**document, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(InputFileError, match="upgrade ovq"):
        read_report(path)


def test_docs_field_table_is_generated_from_the_schema() -> None:
    docs = (REPO / "docs" / "report.md").read_text(encoding="utf-8")
    begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
    generated = docs[docs.index(begin) + len(begin) : docs.index(end)]
    assert generated == field_table_markdown(), "run `python -m ovq.report.schema_docs --write-docs`"
