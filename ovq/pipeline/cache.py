"""A content-addressed cache of stage results, shared by every run on the machine.

A stage's key hashes what decides its result: the stage kind and config, the digests of its inputs (model
source, IRs, datasets) and the versions of ovq, OpenVINO and NNCF, so an unchanged rerun reuses results and
an upgrade invalidates them. An entry is written into a staging folder and renamed into place only when
complete: a run killed at any point (even kill -9) leaves no entry a later run could pick up, and that later
run resumes from the last stage that finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovq.runtime.artifacts import staged_dir, write_json_atomic
from ovq.runtime.environment import environment

CACHE_FORMAT = 1
RECORD_FILE = "record.json"
FILES_DIR = "files"
# Staging folders older than this belong to runs that died; newer ones may belong to a run in progress.
STALE_STAGING_S = 6 * 3600


def default_cache_dir() -> Path:
    root = Path(os.environ.get("OVQ_CACHE_DIR", Path.home() / ".cache" / "ovq"))
    return root / "stages"


@dataclass(frozen=True)
class CacheEntry:
    key: str
    folder: Path
    record: dict[str, Any]

    @property
    def files(self) -> Path:
        return self.folder / FILES_DIR


class StageCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def key(self, *parts: Any) -> str:
        env = environment()
        versions = {name: env[name] for name in ("ovq", "openvino", "nncf", "torch")}
        payload = json.dumps([CACHE_FORMAT, versions, *parts], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def lookup(self, key: str) -> CacheEntry | None:
        folder = self.root / key
        record_file = folder / RECORD_FILE
        if not record_file.is_file():
            return None
        try:
            record = json.loads(record_file.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # unreadable entry: treat as a miss, the store below replaces it
        return CacheEntry(key, folder, record)

    def store(self, key: str, record: dict[str, Any], files_from: Path | None = None) -> CacheEntry:
        """Store a record (and a copy of a folder of files) under key, atomically."""
        final = self.root / key
        with staged_dir(final) as staging:
            if files_from is not None:
                link_or_copy_tree(files_from, staging / FILES_DIR)
            write_json_atomic(staging / RECORD_FILE, {**record, "stored_at": time.time()})
        return CacheEntry(key, final, record)

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        if not self.root.is_dir():
            return 0
        entries = [p for p in self.root.iterdir() if p.is_dir()]
        for entry in entries:
            shutil.rmtree(entry, ignore_errors=True)
        return len(entries)

    def remove_stale_staging(self) -> None:
        if not self.root.is_dir():
            return
        now = time.time()
        for folder in self.root.glob(".staging-*"):
            if now - folder.stat().st_mtime > STALE_STAGING_S:
                shutil.rmtree(folder, ignore_errors=True)

    def summary(self) -> dict[str, Any]:
        entries = (
            [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")] if self.root.is_dir() else []
        )
        size = sum(f.stat().st_size for entry in entries for f in entry.rglob("*") if f.is_file())
        return {"path": str(self.root), "entries": len(entries), "size_bytes": size}


def link_or_copy_tree(source: Path, target: Path) -> None:
    """Hard-link files where the filesystem allows (IRs can be large), copy otherwise."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.rglob("*"):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:
            shutil.copy2(path, destination)
