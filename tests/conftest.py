"""Shared fixtures. The repository root is on sys.path (rootdir conftest), so `models.*` recipes import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _quiet_libraries() -> None:
    # Keep NNCF's and OpenVINO's telemetry/log chatter out of test output.
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")
    os.environ.setdefault("NNCF_TELEMETRY_DISABLE", "1")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
