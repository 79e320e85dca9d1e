"""Artifacts on disk: staging folders renamed into place, atomic file writes, IRs with provenance.

A stage writes into a hidden staging folder and renames it to its final name only when it succeeded, so a
crash or a kill never leaves a half-written artifact that a later run (or cache lookup) could pick up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

IR_FILE = "model.xml"


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a staging folder beside `final`; rename it to `final` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{final.name}-", dir=final.parent))
    staging.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; the final folder gets normal permissions
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


@functools.cache
def current_umask() -> int:
    """The process umask (read once: os.umask can only be read by setting it, racy with threads)."""
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


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: a report must be readable like any file
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars stay numbers
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
