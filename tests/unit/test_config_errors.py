"""One bad-config fixture per failure mode: each must fail `ovq pipeline validate` with its exact message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ovq.cli.app import app

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "bad_configs").glob("*.yaml"))


def _expectations(path: Path) -> tuple[int, str]:
    text = path.read_text()
    exit_code = int(re.search(r"^# exit: (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    expected = re.search(r"^# expect: (.+)$", text, re.M).group(1)  # type: ignore[union-attr]
    return exit_code, expected


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_bad_config_names_the_problem(fixture: Path) -> None:
    exit_code, expected = _expectations(fixture)
    result = CliRunner().invoke(app, ["pipeline", "validate", str(fixture)])
    output = " ".join(result.output.split())  # rich may wrap long lines
    assert result.exit_code == exit_code, result.output
    assert expected in output
    assert "hint:" in output
    assert "Traceback" not in output


def test_there_is_a_fixture_per_failure_mode() -> None:
    assert len(FIXTURES) >= 15


def test_missing_pipeline_file_is_an_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pipeline", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 6
    assert "pipeline file not found" in result.output


def test_shipped_pipelines_validate(repo: Path) -> None:
    # Sweep files (pipelines/sweeps/) validate too: every combination of their grid.
    files = sorted(repo.glob("pipelines/**/*.yaml"))
    assert len(files) >= 9 and any("sweeps" in f.parts for f in files)
    for file in files:
        result = CliRunner().invoke(app, ["pipeline", "validate", str(file)])
        assert result.exit_code == 0, f"{file}: {result.output}"


def test_schema_is_json_schema_of_the_format() -> None:
    import json

    result = CliRunner().invoke(app, ["pipeline", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"name", "model", "stages"}
    assert "QuantizeStage" in json.dumps(schema)


def test_reference_page_is_generated_from_the_schema(repo: Path) -> None:
    from ovq.config.reference import render_reference

    page = (repo / "docs" / "reference" / "pipeline.md").read_text()
    assert page == render_reference() + "\n", "regenerate: ovq pipeline schema --markdown -o docs/reference/pipeline.md"
