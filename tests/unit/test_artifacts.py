"""The one owner of atomic writes: permissions, crash safety, staged folders."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ovq.runtime.artifacts import atomic_path, staged_dir, write_json_atomic, write_text_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_respect_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        written = write_text_atomic(tmp_path / "a" / "note.txt", "hello")
        with staged_dir(tmp_path / "stage") as folder:
            (folder / "x").write_text("x")
    finally:
        os.umask(previous)
    assert written.read_text() == "hello"
    # mkstemp would have made it 0600 whatever the umask; a normal file is 0666 & ~umask.
    assert _mode(written) == 0o640
    assert _mode(tmp_path / "stage") == 0o750
    assert (tmp_path / "stage" / "x").read_text() == "x"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_json_atomic(target, {"n": 1})
    with pytest.raises(RuntimeError, match="crash"), atomic_path(target) as temporary:
        temporary.write_text('{"n": 2, "half')
        raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_failed_stage_leaves_no_folder(tmp_path: Path) -> None:
    final = tmp_path / "stages" / "01-export"
    with pytest.raises(ValueError, match="boom"), staged_dir(final) as folder:
        (folder / "model.xml").write_text("<half")
        raise ValueError("boom")
    assert not final.exists()
    assert list((tmp_path / "stages").iterdir()) == []


def test_json_keeps_numpy_scalars_as_numbers(tmp_path: Path) -> None:
    import numpy as np

    path = write_json_atomic(tmp_path / "x.json", {"v": np.float32(0.5), "p": tmp_path})
    assert json.loads(path.read_text()) == {"v": 0.5, "p": str(tmp_path)}
