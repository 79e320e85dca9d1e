"""A content-addressed cache of stage results, shared by every run (and process) on the machine.

A stage's key hashes what decides its result: the stage kind and config, the digests of its inputs (model
source, IRs, datasets), the versions of OpenVINO, NNCF and torch, and a digest of ovq's own source, so an
unchanged rerun reuses results while an upgrade or an edit of ovq invalidates them.

Safe under concurrency and crashes:
- an entry is written into a private staging folder and renamed into place complete; storing a key that
  exists is a no-op (first writer wins, a late writer discards its copy), so a reader never sees a torn
  or half-replaced entry, and a run killed at any point (even kill -9) leaves no entry a later run could use;
- entries hold copies, never links, of a run's files, and each file's digest is recorded and checked when
  the entry is used: editing an IR in a run folder cannot change the cache, and a corrupted entry is dropped
  (with a warning) and its stage computed again;
- failing to store is a warning, never a failed run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovq.pipeline.faults import checkpoint
from ovq.runtime.artifacts import write_json_atomic
from ovq.runtime.environment import environment

CACHE_FORMAT = 2
RECORD_FILE = "record.json"
FILES_DIR = "files"
MANIFEST = "manifest"  # record field: file path (relative to files/) -> sha256
# A staging folder of a process that is gone is removed at once; one of a live (or remote) process only
# after this long.
STALE_STAGING_S = 6 * 3600

Warn = Callable[[str], None]


class CacheWarning(UserWarning):
    """The stage cache could not store or use an entry; the run went on without it."""


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


def default_cache_dir() -> Path:
    root = Path(os.environ.get("OVQ_CACHE_DIR", Path.home() / ".cache" / "ovq"))
    return root / "stages"


def source_tree_digest(root: Path) -> str:
    """A digest of every .py file under root (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def ovq_source_digest() -> str:
    """ovq's own code, hashed once per process (a few ms): editing ovq invalidates cached stages."""
    return source_tree_digest(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class CacheEntry:
    key: str
    folder: Path
    record: dict[str, Any]

    @property
    def files(self) -> Path:
        return self.folder / FILES_DIR

    @property
    def has_files(self) -> bool:
        return bool(self.record.get(MANIFEST))


class StageCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def key(self, *parts: Any) -> str:
        env = environment()
        versions = {name: env[name] for name in ("ovq", "openvino", "nncf", "torch")}
        payload = json.dumps([CACHE_FORMAT, versions, ovq_source_digest(), *parts], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def lookup(self, key: str, *, warn: Warn = _warn) -> CacheEntry | None:
        folder = self.root / key
        try:
            record = json.loads((folder / RECORD_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            warn(f"stage cache entry {key} is unreadable ({error}); dropped, the stage runs again")
            self.drop(key)
            return None
        if not isinstance(record, dict):
            warn(f"stage cache entry {key} is malformed; dropped, the stage runs again")
            self.drop(key)
            return None
        return CacheEntry(key, folder, record)

    def materialize(self, entry: CacheEntry, target: Path, *, warn: Warn = _warn) -> bool:
        """Copy an entry's files into target, checking each against its recorded digest.

        Returns False (and drops the entry) when a file is missing or changed: the caller runs the stage.
        """
        manifest: dict[str, str] = entry.record.get(MANIFEST) or {}
        try:
            for relative, expected in manifest.items():
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                if _copy_hashing(entry.files / relative, destination) != expected:
                    raise ValueError(f"{relative} does not match its recorded digest")
        except (OSError, ValueError) as error:
            warn(f"stage cache entry {entry.key} is corrupted ({error}); dropped, the stage runs again")
            self.drop(entry.key)
            return False
        return True

    def store(self, key: str, record: dict[str, Any], files_from: Path | None = None, *, warn: Warn = _warn) -> bool:
        """Store a record (and a copy of a folder of files) under key; True if this call wrote the entry.

        Idempotent: when the key exists (another run stored it first) the new copy is discarded.
        """
        final = self.root / key
        if final.is_dir():
            return False
        staging = self.root / f".staging-{key}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
            manifest: dict[str, str] = {}
            if files_from is not None:
                for path in sorted(files_from.rglob("*")):
                    if path.is_file():
                        relative = path.relative_to(files_from).as_posix()
                        destination = staging / FILES_DIR / relative
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        manifest[relative] = _copy_hashing(path, destination)
            write_json_atomic(staging / RECORD_FILE, {**record, MANIFEST: manifest, "stored_at": time.time()})
            checkpoint("cache:store")
            try:
                os.rename(staging, final)  # atomic; fails when another writer's entry is already in place
            except OSError:
                if final.is_dir():
                    return False  # first writer won: ours is discarded (finally)
                raise
            return True
        except OSError as error:
            warn(f"could not store stage cache entry {key} in {self.root}: {error}; the run goes on without it")
            return False
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def drop(self, key: str) -> None:
        """Remove an entry: renamed away first (atomic), so no reader sees it half deleted."""
        trash = self.root / f".trash-{key}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.root / key, trash)
        except OSError:
            return  # already gone (another run dropped it)
        shutil.rmtree(trash, ignore_errors=True)

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        if not self.root.is_dir():
            return 0
        entries = [p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for name in entries:
            self.drop(name)
        return len(entries)

    def remove_stale_staging(self) -> None:
        """Remove what killed processes left: their staging and trash folders."""
        if not self.root.is_dir():
            return
        now = time.time()
        host = socket.gethostname()
        for folder in [*self.root.glob(".staging-*"), *self.root.glob(".trash-*")]:
            # .staging-KEY-HOST-PID-RANDOM (HOST may hold dashes)
            parts = folder.name.split("-")
            owner_host, pid = "-".join(parts[2:-2]), parts[-2] if len(parts) >= 5 else ""
            dead = owner_host == host and pid.isdigit() and not _process_alive(int(pid))
            with contextlib.suppress(OSError):
                if dead or now - folder.stat().st_mtime > STALE_STAGING_S:
                    shutil.rmtree(folder, ignore_errors=True)

    def summary(self) -> dict[str, Any]:
        entries = (
            [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")] if self.root.is_dir() else []
        )
        size = sum(f.stat().st_size for entry in entries for f in entry.rglob("*") if f.is_file())
        return {"path": str(self.root), "entries": len(entries), "size_bytes": size}


def _copy_hashing(source: Path, destination: Path) -> str:
    """Copy a file (a new inode, created with the umask's permissions) and return the sha256 of its bytes."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, destination.open("wb") as writer:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
            writer.write(block)
    return digest.hexdigest()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True
