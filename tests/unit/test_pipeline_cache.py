"""The stage cache's storage rules, without a model: idempotent stores, verified entries, warnings not failures."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

from ovq.pipeline import cache as cache_module
from ovq.pipeline.cache import CacheWarning, StageCache, source_tree_digest


def files(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / f"files-{text}"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.xml").write_text(text)
    (folder / "sub" / "model.bin").write_bytes(text.encode() * 100)
    return folder


def test_storing_a_key_twice_keeps_the_first_entry(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    assert cache.store("k", {"who": "first"}, files(tmp_path, "first")) is True
    assert cache.store("k", {"who": "second"}, files(tmp_path, "second")) is False
    entry = cache.lookup("k")
    assert entry is not None and entry.record["who"] == "first"
    assert (entry.files / "model.xml").read_text() == "first"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["k"]  # the second copy was discarded


def _store_race(root: str, index: int) -> bool:
    return StageCache(Path(root)).store("same", {"writer": index})


def test_concurrent_stores_of_one_key_have_one_winner_and_no_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        won = pool.starmap(_store_race, [(str(root), index) for index in range(16)])
    assert sum(won) == 1
    assert sorted(p.name for p in root.iterdir()) == ["same"]
    entry = StageCache(root).lookup("same")
    assert entry is not None and entry.record["writer"] == won.index(True)


def test_entries_are_copies_and_are_verified_when_used(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    source = files(tmp_path, "ir")
    cache.store("k", {}, source)
    entry = cache.lookup("k")
    assert entry is not None
    assert os.stat(source / "model.xml").st_ino != os.stat(entry.files / "model.xml").st_ino
    (source / "model.xml").write_text("edited in the run folder")  # cannot reach the cache
    target = tmp_path / "run-b"
    assert cache.materialize(entry, target)
    assert (target / "model.xml").read_text() == "ir"
    assert os.stat(target / "model.xml").st_ino != os.stat(entry.files / "model.xml").st_ino

    (entry.files / "sub" / "model.bin").write_bytes(b"bit rot")
    warnings: list[str] = []
    assert not cache.materialize(entry, tmp_path / "run-c", warn=warnings.append)
    assert "corrupted" in warnings[0] and "sub/model.bin" in warnings[0]
    assert cache.lookup("k") is None  # dropped: the next run computes and stores it again
    assert not list((tmp_path / "cache").iterdir())


def test_an_unreadable_record_is_a_miss_with_a_warning(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store("k", {"a": 1})
    (tmp_path / "cache" / "k" / "record.json").write_text("{torn")
    with pytest.warns(CacheWarning, match="unreadable"):
        assert cache.lookup("k") is None
    assert not (tmp_path / "cache" / "k").exists()


def test_a_failed_store_is_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache root should be")
    warnings: list[str] = []
    assert StageCache(blocker / "stages").store("k", {"a": 1}, warn=warnings.append) is False
    assert "could not store stage cache entry k" in warnings[0]


def test_staging_of_dead_processes_is_removed_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    host = cache_module.socket.gethostname()
    dead = root / f".staging-abc-{host}-999999999-0000"
    live = root / f".staging-abd-{host}-{os.getpid()}-0000"
    trash = root / f".trash-abe-{host}-999999999-0000"
    for folder in (dead, live, trash):
        folder.mkdir(parents=True)
    StageCache(root).remove_stale_staging()
    assert not dead.exists() and not trash.exists() and live.exists()


def test_the_source_digest_changes_when_ovq_is_edited(tmp_path: Path) -> None:
    tree = tmp_path / "ovq"
    shutil.copytree(Path(cache_module.__file__).resolve().parent.parent, tree)
    before = source_tree_digest(tree)
    assert source_tree_digest(tree) == before
    (tree / "pipeline" / "runner.py").write_text((tree / "pipeline" / "runner.py").read_text() + "\n# edited\n")
    assert source_tree_digest(tree) != before
    # The key of the same stage parts follows the digest.
    cache = StageCache(tmp_path / "cache")
    key = cache.key({"kind": "export"})
    cache_module.ovq_source_digest.cache_clear()
    try:
        original = cache_module.ovq_source_digest()
        assert original == source_tree_digest(Path(cache_module.__file__).resolve().parent.parent)
    finally:
        cache_module.ovq_source_digest.cache_clear()
    assert cache.key({"kind": "export"}) == key
