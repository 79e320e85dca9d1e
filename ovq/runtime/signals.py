"""Keep signal delivery safe after OpenVINO/NNCF work: a valid alternate signal stack on the main thread.

Seen here (OpenVINO 2026.4, NNCF 3.4): after a pipeline run, the main thread is left with an alternate
signal stack (sigaltstack) that a native library installed and no longer owns. Python installs its signal
handlers with SA_ONSTACK, so the next SIGINT or SIGTERM is delivered onto that stack and the process dies
with a segmentation fault instead of running the handler (a sweep's Ctrl-C, a nightly job's cancellation).
Installing a stack that Python keeps alive makes every later signal land on valid memory.
"""

from __future__ import annotations

import ctypes
import sys
import threading

_SS_DISABLE = 2
_STACK_BYTES = 1 << 16
_stack: ctypes.Array[ctypes.c_char] | None = None


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def keep_signal_stack_valid() -> None:
    """Replace an alternate signal stack ovq does not own by one it keeps alive (Linux, main thread only)."""
    global _stack
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    current = _StackT()
    if libc.sigaltstack(None, ctypes.byref(current)) != 0 or current.ss_flags & _SS_DISABLE:
        return  # no alternate stack: signals use the ordinary one
    if _stack is not None and current.ss_sp == ctypes.addressof(_stack):
        return
    if _stack is None:
        _stack = ctypes.create_string_buffer(_STACK_BYTES)
    ours = _StackT(ctypes.addressof(_stack), 0, _STACK_BYTES)
    libc.sigaltstack(ctypes.byref(ours), None)
