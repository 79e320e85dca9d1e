"""OpenVINO's and NNCF's usage telemetry stays off inside ovq unless the user opts in.

Why: both libraries report usage through ``openvino_telemetry``, which sends each event from a
``multiprocessing.Process`` forked off a thread pool. A fork taken while another thread holds Python's
import lock leaves the child deadlocked in its first import, and the parent then waits for that child at
exit for ever: an ``ovq sweep`` that had written its report hung at exit with two such children (seen
here, 2026-12-02). ovq also promises no network traffic at run time. Set ``OVQ_VENDOR_TELEMETRY=1`` to
leave the libraries' own consent (``opt_in_out``) in charge.

The switch costs nothing at ``import ovq``: an import hook waits for ``openvino_telemetry`` to be imported
(by NNCF or by ``openvino.convert_model``) and only then turns the consent of its one ``Telemetry``
instance off, including after a library re-initialises it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

OPT_IN_VARIABLE = "OVQ_VENDOR_TELEMETRY"
_MODULE = "openvino_telemetry"
_PATCHED = "_ovq_consent_off"


def vendor_telemetry_allowed() -> bool:
    return os.environ.get(OPT_IN_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def _turn_consent_off(module: ModuleType) -> None:
    telemetry_class: Any = getattr(module, "Telemetry", None)
    if telemetry_class is None or getattr(telemetry_class, _PATCHED, False):
        return
    original_init = telemetry_class.init

    def init_without_consent(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.consent = False

    telemetry_class.init = init_without_consent
    setattr(telemetry_class, _PATCHED, True)
    # An instance made before ovq was imported (the class is a singleton): its name is mangled by the metaclass.
    instance = getattr(telemetry_class, "_SingletonMetaClass__single_instance", None)
    if instance is not None:
        instance.consent = False


class _PatchOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds nothing itself; wraps the real loader of ``openvino_telemetry`` to patch it once executed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                self._real_loader = spec.loader
                spec.loader = self
                return spec
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._real_loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._real_loader.exec_module(module)
        _turn_consent_off(module)
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self]


def silence_vendor_telemetry() -> None:
    """Turn OpenVINO/NNCF telemetry off in this process now or whenever it is imported (idempotent)."""
    if vendor_telemetry_allowed():
        return
    module = sys.modules.get(_MODULE)
    if module is not None:
        _turn_consent_off(module)
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
