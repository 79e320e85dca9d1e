"""OpenVINO's and NNCF's usage telemetry stays off inside ovq unless the user opts in.

Why: both libraries report usage through ``openvino_telemetry``, which sends each event from a
``multiprocessing.Process`` forked off a thread pool. A fork taken while another thread holds Python's
import lock leaves the child deadlocked in its first import, and the parent then waits for that child at
exit for ever: an ``ovq sweep`` that had written its report hung at exit with two such children (seen
here, 2026-12-02). ovq also promises no network traffic at run time. Set ``OVQ_VENDOR_TELEMETRY=1`` to
leave the libraries' own consent (``opt_in_out``) in charge.

How: the library's consent check (``OptInChecker.check``) answers "declined", as it does for a user who
ran ``opt_in_out --opt_out``, so every ``Telemetry`` initialisation (NNCF's at import, OVC's at each
``convert_model``) keeps consent off and writes no client-id or statistics file. The switch costs
almost nothing at ``import ovq``: a finder on ``sys.meta_path`` waits for ``openvino_telemetry`` to be
imported and patches it then.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

OPT_IN_VARIABLE = "OVQ_VENDOR_TELEMETRY"
_PACKAGE = "openvino_telemetry"
_CHECKER_MODULE = "openvino_telemetry.utils.opt_in_checker"
_PATCHED = "_ovq_declined"


def vendor_telemetry_allowed() -> bool:
    return os.environ.get(OPT_IN_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def _decline(checker_module: ModuleType) -> None:
    """Make the consent check answer DECLINED, and turn off an instance made before ovq was imported."""
    checker: Any = getattr(checker_module, "OptInChecker", None)
    declined = getattr(getattr(checker_module, "ConsentCheckResult", None), "DECLINED", None)
    if checker is None or declined is None or getattr(checker, _PATCHED, False):
        return

    def check(self: Any, *args: Any, **kwargs: Any) -> Any:
        return declined

    checker.check = check
    setattr(checker, _PATCHED, True)
    main = sys.modules.get(f"{_PACKAGE}.main")
    telemetry_class = getattr(main, "Telemetry", None)
    # The class is a singleton; its metaclass keeps the one instance under this (name-mangled) attribute.
    instance = getattr(telemetry_class, "_SingletonMetaClass__single_instance", None)
    if instance is not None:
        instance.consent = False


class _DeclineOnImport:
    """A meta-path finder that finds nothing itself: it wraps the real loader of the consent-check module.

    It stays on ``sys.meta_path`` after its work is done (inert), because removing an entry while another
    thread walks the list would make that thread skip a finder.
    """

    def __init__(self) -> None:
        self.done = False
        self._lock = threading.Lock()
        self._real_loader: Any = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if self.done or fullname != _CHECKER_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _DeclineOnImport) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                with self._lock:
                    self._real_loader = spec.loader
                spec.loader = self  # type: ignore[assignment]
                return spec
        return None

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._real_loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        real = self._real_loader
        # The module keeps its own loader (importlib.resources, get_source and reload go through it).
        module.__loader__ = real
        if module.__spec__ is not None:
            module.__spec__.loader = real
        real.exec_module(module)
        _decline(module)
        self.done = True


def silence_vendor_telemetry() -> None:
    """Turn OpenVINO/NNCF telemetry off in this process now or whenever it is imported (idempotent)."""
    if vendor_telemetry_allowed():
        return
    checker_module = sys.modules.get(_CHECKER_MODULE)
    if checker_module is not None and hasattr(checker_module, "OptInChecker"):
        _decline(checker_module)
    elif not any(isinstance(finder, _DeclineOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DeclineOnImport())
