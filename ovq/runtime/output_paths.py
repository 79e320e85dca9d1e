"""Output paths checked before any work: a run that can never write its results fails at once.

A folder or file ovq will write (`-o`, `--json`, `--junit`, `--out`, OVQ_CACHE_DIR) that is a file, lies
under a file, or sits on a read-only or unwritable location is an InputFileError (exit 6) naming the
path and the option, instead of a traceback after minutes of calibration.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from ovq.errors import InputFileError


def check_output_dir(path: Path, what: str) -> None:
    """Make sure `path` is (or can become) a writable folder; creates it. `what` names the option."""
    _refuse_file_in_the_way(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Probe with a real write: permissions, read-only mounts and quotas all show up here (root too).
        fd, probe = tempfile.mkstemp(prefix=".ovq-write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _unwritable(path, what, exc) from None


def check_output_file(path: Path, what: str) -> None:
    """Make sure a file can be written at `path` (its folder is created); the file itself is not touched."""
    if path.is_dir():
        raise InputFileError(f"{what} {path} is a directory, not a file", hint="give a file path for it")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InputFileError(
                f"{what} {path} is under {parent}, which is a file, not a folder",
                hint="choose another path (or remove the file in the way)",
            )
    try:
        check_output_dir(path.parent, what)
    except InputFileError as exc:
        raise InputFileError(
            f"{what} {path}: its folder {exc.message.removeprefix(what + ' ')}", hint=exc.hint
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise InputFileError(f"{what} {path} is not writable", hint="fix its permissions or choose another path")


def _refuse_file_in_the_way(path: Path, what: str) -> None:
    for candidate in [path, *path.parents]:
        if candidate.exists() and not candidate.is_dir():
            where = "is a file" if candidate == path else f"is under {candidate}, which is a file"
            raise InputFileError(
                f"{what} {path} {where}, not a folder",
                hint="choose a folder path (or remove the file in the way)",
            )
        if candidate.exists():
            return


def _unwritable(path: Path, what: str, exc: OSError) -> InputFileError:
    reason = {
        errno.EROFS: "is on a read-only file system",
        errno.EACCES: "is not writable (permission denied)",
        errno.EPERM: "is not writable (operation not permitted)",
        errno.ENOSPC: "is on a full disk",
        errno.ENOTDIR: "is under a file, not a folder",
        errno.ENOENT: "cannot be created there",
    }.get(exc.errno or 0, f"cannot be written: {exc.strerror}")
    return InputFileError(f"{what} {path} {reason}", hint="choose a writable location or fix its permissions")
