"""Every use of NNCF internals (and OpenVINO private names) in ovq, behind one version check.

ovq corrects and observes NNCF from the inside in a few places (accuracy control's reverts and ranking,
NNCF's graph for ignored-scope checks, the PyTorch hook storage for QAT). Those names are not NNCF's
public API and move between releases, so they live here only, and this package refuses to load beside
an NNCF release it was not tested with: a DependencyError (exit code 9) that names the supported
versions, rather than a patch that silently stops applying. ``require`` does the same for each internal
name at the moment it is used, so a patch release that moves one fails loudly too.

Importing this package does not import NNCF (``ovq --help`` stays fast): it reads the installed version
from the package metadata.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from ovq.errors import DependencyError

#: The NNCF releases whose internals this package was written against and tested with (pyproject pins it).
SUPPORTED_NNCF = ((3, 4), (3, 5))  # >= 3.4, < 3.5
SUPPORTED_NNCF_TEXT = "nncf>=3.4,<3.5"


def _release(version: str) -> tuple[int, int]:
    parts = version.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def check_nncf_version(version: str | None = None) -> str:
    """The installed NNCF version, or DependencyError when it is missing or outside SUPPORTED_NNCF."""
    if version is None:
        try:
            version = metadata.version("nncf")
        except metadata.PackageNotFoundError:
            raise DependencyError(
                "NNCF is not installed; ovq's compression needs it",
                hint=f"pip install '{SUPPORTED_NNCF_TEXT}'",
            ) from None
    low, high = SUPPORTED_NNCF
    if not low <= _release(version) < high:
        raise DependencyError(
            f"ovq's NNCF integration supports {SUPPORTED_NNCF_TEXT}; nncf {version} is installed",
            hint=f"pip install '{SUPPORTED_NNCF_TEXT}' (ovq uses NNCF internals that change between releases)",
        )
    return version


def require(module_name: str, *names: str) -> Any:
    """Import an NNCF/OpenVINO internal module and check it still has ``names``; DependencyError if not."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _missing(f"module {module_name}", error) from error
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        raise _missing(f"{module_name}.{', '.join(missing)}", None)
    return module


def internal(module_name: str, name: str) -> Any:
    """One internal name (``require`` for a single attribute)."""
    return getattr(require(module_name, name), name)


def _missing(what: str, error: BaseException | None) -> DependencyError:
    versions = []
    for package in ("nncf", "openvino"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    detail = f" ({error})" if error is not None else ""
    return DependencyError(
        f"{what} is missing from the installed {' / '.join(versions)}{detail}; ovq needs it",
        hint=f"install the versions ovq is tested with: pip install '{SUPPORTED_NNCF_TEXT}' 'openvino>=2026.4,<2026.5'",
    )


NNCF_VERSION = check_nncf_version()
