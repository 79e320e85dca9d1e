"""Keep standard output for the result: while a run works, whatever libraries print goes to stderr.

NNCF draws its progress bars and logs its statistics on stdout; with ``--json`` a script reads stdout as JSON,
so during the run file descriptor 1 (inherited by worker processes too) points at stderr, and only the result
is written to the real stdout afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

#: Libraries whose loggers bind a stream handler to ``sys.stdout`` when first imported.
_LIBRARY_LOGGERS = ("nncf",)


@contextlib.contextmanager
def library_logs_to_stderr() -> Iterator[None]:
    """Inside: NNCF's log handlers write to the current ``sys.stderr``; outside: where they wrote, if still open.

    NNCF binds its handler to whatever ``sys.stdout`` was when it was first imported. In a process that runs
    several commands (a notebook, a test's CliRunner) that stream may be closed by now, and every NNCF log
    line then prints a "Logging error" traceback; on a terminal it would also put logs on stdout.
    """
    handlers = [
        handler
        for name in _LIBRARY_LOGGERS
        for handler in logging.getLogger(name).handlers
        if type(handler) is logging.StreamHandler
    ]
    saved = [handler.stream for handler in handlers]
    for handler in handlers:
        _point(handler, sys.stderr)
    try:
        yield
    finally:
        for handler, stream in zip(handlers, saved, strict=True):
            _point(handler, sys.__stderr__ if getattr(stream, "closed", False) else stream)


def _point(handler: logging.StreamHandler[Any], stream: Any) -> None:
    # Not handler.setStream: it flushes the old stream first, which raises when that stream is closed.
    with handler.lock or contextlib.nullcontext():
        handler.stream = stream


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Inside: fd 1 and ``sys.stdout`` write to stderr (and library logs, always). Outside: stdout as it was."""
    with library_logs_to_stderr(), _fd1_to_stderr() if enabled else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def _fd1_to_stderr() -> Iterator[None]:
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
