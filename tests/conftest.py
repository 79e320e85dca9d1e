"""Shared fixtures. The repository root is on sys.path (rootdir conftest), so `models.*` recipes import.

``OVQ_TEST_CAP=CLASS`` (e.g. ``avx2``) runs the session as that lower CPU class: the ISA cap is put into
this process's environment before anything imports OpenVINO (the plugin reads it once, at its first look at
the CPU) and is inherited by every subprocess the tests start. Before any test runs, the session proves the
cap took effect (the plugin's default precision and the kernels it executes match the class); when it did
not, every test is skipped with the reason, never passed as if it had run capped. Test ids carry
``[cap=CLASS]`` so a capped run's results never read as the native run's. ``./dev test`` runs the tests
marked ``cpu_class`` this way for each class below the host.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ovq.runtime.cpu_class import cap_environment, cpu_class, host_class, is_emulable

REPO = Path(__file__).resolve().parent.parent
_CAP_NAME = os.environ.get("OVQ_TEST_CAP", "").strip()
_CAP = cpu_class(_CAP_NAME) if _CAP_NAME else None
_CAP_PROBLEM: str | None = None
if _CAP is not None:
    if not is_emulable(_CAP):
        _CAP_PROBLEM = f"this host ({host_class().name}) cannot emulate {_CAP.name}"
    else:
        os.environ.update(cap_environment(_CAP))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cpu_class: behaviour that depends on the CPU class; ./dev test reruns these under each lower cap"
    )
    global _CAP_PROBLEM
    if _CAP is not None and _CAP_PROBLEM is None:
        from ovq.runtime.cpu_class import prove_cap

        _CAP_PROBLEM = prove_cap(_CAP)


def pytest_report_header(config: pytest.Config) -> str:
    from ovq.runtime.cpu_class import active_class

    here = active_class()
    cap = f", capped to {_CAP.name}" if _CAP is not None else ""
    state = f" — cap NOT in effect: {_CAP_PROBLEM}" if _CAP_PROBLEM else ""
    return f"ovq CPU class: {here.describe()} (host {host_class().name}{cap}){state}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _CAP is None:
        return
    skip = pytest.mark.skip(reason=f"ISA cap {_CAP.name} not in effect: {_CAP_PROBLEM}") if _CAP_PROBLEM else None
    for item in items:
        # Their own ids: a capped run's results are never mistaken for the native run's.
        item._nodeid = f"{item.nodeid}[cap={_CAP.name}]"
        if skip is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    # OpenVINO/NNCF telemetry: ovq turns it off itself (ovq/runtime/telemetry.py); tests/unit/test_telemetry.py checks.
    # A cache of our own: a test must never be served a result measured by an earlier session.
    os.environ["OVQ_CACHE_DIR"] = str(tmp_path_factory.mktemp("ovq-cache"))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
