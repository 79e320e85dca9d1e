"""Keep standard output for the result: while a run works, whatever libraries print goes to stderr.

NNCF draws its progress bars and logs its statistics on stdout; with ``--json`` a script reads stdout as JSON,
so during the run file descriptor 1 (inherited by worker processes too) points at stderr, and only the result
is written to the real stdout afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Inside: fd 1 and ``sys.stdout`` write to stderr. Outside: stdout as it was."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    saved_stream = sys.stdout
    try:
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        yield
    finally:
        sys.stderr.flush()
        sys.stdout = saved_stream
        os.dup2(saved, 1)
        os.close(saved)
