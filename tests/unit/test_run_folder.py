"""Run folders: safe default names, claimed before any work, never mixing two runs, normal permissions."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ovq.config.schema import parse_pipeline
from ovq.config.stages import STAGE_KINDS, STAGE_MODELS
from ovq.errors import ConfigError, InputFileError
from ovq.pipeline import run_folder
from ovq.pipeline.stages import STAGE_ADAPTERS
from ovq.runtime.artifacts import staged_dir, write_json_atomic


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a/b\\c", "..", ".hidden", "ok name ünïcode"])
def test_default_run_folder_stays_under_runs(name: str) -> None:
    folder = run_folder.default_run_dir(name)
    assert folder.parent == Path("runs")
    assert "/" not in folder.name and not folder.name.startswith(".") and ".." not in folder.name.split("-")[0]


def test_an_empty_pipeline_name_is_a_config_error() -> None:
    raw = {"name": "  ", "model": {"ir": "m.xml"}, "stages": [{"stage": "export"}]}
    with pytest.raises(ConfigError, match="name: must not be empty"):
        parse_pipeline(raw)


def write_run(folder: Path, pipeline: str, digest: str = "d1") -> None:
    (folder / "stages" / "00-export").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    write_json_atomic(folder / "report.json", {"pipeline": pipeline, "config_digest": digest, "status": "succeeded"})


def claim(folder: Path, pipeline: str = "p", digest: str = "d1", overwrite: bool = False) -> list[str]:
    seen: list[str] = []

    def running() -> None:
        # The running report replaces the earlier one before anything of the earlier run is removed.
        seen.extend(sorted(p.name for p in folder.iterdir()))
        write_json_atomic(folder / "report.json", {"pipeline": pipeline, "status": "running"})

    run_folder.claim(folder, pipeline=pipeline, config_digest=digest, overwrite=overwrite, running_report=running)
    return seen


def test_rerun_of_the_same_pipeline_clears_the_earlier_run(tmp_path: Path) -> None:
    write_run(tmp_path / "run", "p")
    seen = claim(tmp_path / "run")
    assert "stages" in seen  # still there when the running report was written
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoints", "report.json"]
    assert json.loads((tmp_path / "run" / "report.json").read_text())["status"] == "running"
    write_run(tmp_path / "edited", "p", digest="d0")
    claim(tmp_path / "edited")  # another config: its QAT checkpoints do not apply
    assert sorted(p.name for p in (tmp_path / "edited").iterdir()) == ["report.json"]


def test_another_pipelines_folder_is_refused_unless_overwrite(tmp_path: Path) -> None:
    write_run(tmp_path / "run", "other")
    with pytest.raises(InputFileError, match="holds a run of another pipeline") as error:
        claim(tmp_path / "run")
    assert "--overwrite" in (error.value.hint or "")
    assert (tmp_path / "run" / "stages").is_dir()  # untouched
    claim(tmp_path / "run", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["report.json"]


def test_a_folder_that_is_no_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(InputFileError, match="holds no ovq run"):
        claim(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputFileError, match="is a file"):
        claim(tmp_path / "file")


def test_files_and_folders_get_normal_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with staged_dir(tmp_path / "stage") as folder:
            write_json_atomic(folder / "report.json", {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "stage").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "stage" / "report.json").stat().st_mode) == 0o644


def test_stage_kinds_are_listed_once_and_every_kind_has_an_adapter() -> None:
    assert set(STAGE_ADAPTERS) == set(STAGE_KINDS) == set(STAGE_MODELS)
    for kind, adapter in STAGE_ADAPTERS.items():
        assert adapter.config_model is STAGE_MODELS[kind]
        source = Path(__import__(type(adapter).__module__, fromlist=["_"]).__file__ or "")
        assert len(source.read_text().splitlines()) <= 110, f"{source.name}: an adapter stays thin"
