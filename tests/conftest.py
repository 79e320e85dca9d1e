"""Shared fixtures. The repository root is on sys.path (rootdir conftest), so `models.*` recipes import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    # OpenVINO/NNCF telemetry: ovq turns it off itself (ovq/runtime/telemetry.py); tests/unit/test_telemetry.py checks.
    # A cache of our own: a test must never be served a result measured by an earlier session.
    os.environ["OVQ_CACHE_DIR"] = str(tmp_path_factory.mktemp("ovq-cache"))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
