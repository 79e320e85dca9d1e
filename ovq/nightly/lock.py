"""Exclusive use of a nightly job's outputs: two jobs writing one history or one --out never interleave.

Each output (the --out folder, the history file, the JUnit and summary files) has a lock file beside it,
held with fcntl.flock for the whole job. A second job that finds one held is refused at once with an
"in use" error naming the path and the holder's pid, instead of the last writer silently winning. Locks
die with their process (even kill -9), so a crashed job never blocks the next night. Lock files are left
in place: deleting them would let a third job lock a fresh file while a second still holds the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ovq.errors import InputFileError


def lock_file_for(path: Path, *, is_dir: bool) -> Path:
    return path / ".ovq-nightly.lock" if is_dir else path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def exclusive_outputs(folders: Sequence[Path], files: Sequence[Path]) -> Iterator[None]:
    """Hold every output's lock for the block; raise InputFileError if another job holds one."""
    targets = {lock_file_for(p, is_dir=True): p for p in folders} | {lock_file_for(p, is_dir=False): p for p in files}
    with contextlib.ExitStack() as held:
        # Sorted: two jobs that share several outputs take them in the same order.
        for lock_path in sorted(targets, key=lambda p: str(p.resolve())):
            held.enter_context(_locked(lock_path, targets[lock_path]))
        yield


@contextlib.contextmanager
def _locked(lock_path: Path, guarded: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise InputFileError(
                f"{guarded} is in use by another ovq nightly job (pid {holder})",
                hint="wait for that job to finish, or give this one its own --out and --history",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
