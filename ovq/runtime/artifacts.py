"""Artifacts on disk: staging folders renamed into place, atomic file writes, IRs with provenance.

A stage writes into a hidden staging folder and renames it to its final name only when it succeeded, so a
crash or a kill never leaves a half-written artifact that a later run (or cache lookup) could pick up.

This module is the one owner of atomic writes in ovq: every file ovq writes goes through
:func:`atomic_path` (or the helpers built on it). A write lands in a temporary file beside the target
(same folder, so the rename cannot cross filesystems), created with the ordinary permissions the umask
allows; the file is fsynced, renamed over the target with ``os.replace`` and the folder is fsynced, so
after a crash a reader sees either the old file or the complete new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

IR_FILE = "model.xml"


def current_umask() -> int:
    """The process umask, read from /proc (os.umask can only be read by setting it, which races with threads)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) contents to disk."""
    is_dir = path.is_dir()
    if is_dir and not hasattr(os, "O_DIRECTORY"):
        return  # Windows cannot open a folder to fsync it
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if is_dir else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_sibling(path: Path, suffix: str = ".tmp") -> Path:
    """Create an empty file beside ``path`` with umask-respecting permissions (mkstemp would give 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it replaces ``path`` atomically.

    For writers that want a file name (``savefig``, ``torch.save``, ``ElementTree.write``, exporters).
    ``suffix`` keeps the file type for writers that infer it from the name. On an exception the
    temporary file is removed and ``path`` is left as it was.

    >>> with atomic_path(out / "plot.png", suffix=".png") as temporary:
    ...     figure.savefig(temporary)
    """
    target = Path(path)
    temporary = _temporary_sibling(target, suffix)
    try:
        yield temporary
        fsync_path(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(target.parent)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) so that a reader never sees a half-written file."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """JSON (indented, a trailing newline; Paths as strings, numpy scalars as numbers), written atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars stay numbers
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a staging folder beside `final`; rename it to `final` only if the block succeeds.

    The staged files are fsynced before the rename, and the parent folder after it, so a crash right
    after a stage "succeeded" cannot leave an artifact folder with empty files in it.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{final.name}-", dir=final.parent))
    try:
        yield staging
        for written in sorted(staging.rglob("*")):
            fsync_path(written)
        fsync_path(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # mkdtemp makes the folder 0700; give it the permissions an ordinary mkdir would have.
    staging.chmod(0o777 & ~current_umask())
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    fsync_path(final.parent)


def save_ir(model: ov.Model, folder: Path, *, provenance: dict[str, str], compress_to_fp16: bool = False) -> Path:
    """Save model.xml/.bin into folder with ovq provenance in rt_info.

    compress_to_fp16 defaults to False: OpenVINO's save_model halves FP32 weights to FP16 unless told not to,
    which would silently change the "FP32" baseline.
    """
    import openvino as ov

    for key, value in provenance.items():
        model.set_rt_info(value, ["ovq", key])
    path = folder / IR_FILE
    ov.save_model(model, path, compress_to_fp16=compress_to_fp16)
    return path


def save_ir_atomic(model: ov.Model, path: str | Path, *, compress_to_fp16: bool = False) -> Path:
    """Write an IR to ``path`` (.xml, its .bin beside it) so that no half-written pair is ever visible.

    Both files are written into a staging folder beside ``path`` and fsynced; the .bin is renamed into
    place first, so an .xml is only ever visible with complete weights beside it.
    """
    import openvino as ov

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".ovq-ir-{target.stem}-", dir=target.parent))
    try:
        staged = folder / target.name
        ov.save_model(model, staged, compress_to_fp16=compress_to_fp16)
        for written in (staged.with_suffix(".bin"), staged):
            fsync_path(written)
        os.replace(staged.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(staged, target)
        fsync_path(target.parent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return target


def ir_size_bytes(xml_path: Path) -> int:
    return xml_path.stat().st_size + xml_path.with_suffix(".bin").stat().st_size


def file_digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def ir_digest(xml_path: Path) -> str:
    return file_digest(xml_path, xml_path.with_suffix(".bin"))
