"""NNCF internals live in ovq/compression/_nncf/ only, behind a version check that fails loudly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ovq.compression._nncf import SUPPORTED_NNCF_TEXT, check_nncf_version, require
from ovq.errors import DependencyError

OVQ = Path(__file__).resolve().parents[2] / "ovq"
FENCE = OVQ / "compression" / "_nncf"
# NNCF modules that are its documented public API (the API reference lists them).
PUBLIC_NNCF = {"nncf", "nncf.torch", "nncf.quantization.advanced_parameters"}
_IMPORT = re.compile(r"^\s*(?:from|import)\s+((?:nncf|openvino)[\w.]*)", re.MULTILINE)


def test_the_installed_nncf_is_one_ovq_supports() -> None:
    installed = check_nncf_version()
    assert installed.startswith("3.4")


@pytest.mark.parametrize("version", ["3.5.0", "3.3.1", "2.18.0", "4.0.0"])
def test_an_untested_nncf_is_a_dependency_error_naming_the_supported_versions(version: str) -> None:
    with pytest.raises(DependencyError) as caught:
        check_nncf_version(version)
    assert caught.value.exit_code == 9
    assert SUPPORTED_NNCF_TEXT in caught.value.message and version in caught.value.message
    assert SUPPORTED_NNCF_TEXT in caught.value.hint


@pytest.mark.parametrize("version", ["3.4.0", "3.4.1", "3.4.0.dev0+abc"])
def test_every_3_4_release_is_accepted(version: str) -> None:
    assert check_nncf_version(version) == version


def test_a_missing_internal_is_a_dependency_error_not_a_silent_skip() -> None:
    with pytest.raises(DependencyError, match=r"nncf\.scopes\.no_such_function is missing") as caught:
        require("nncf.scopes", "no_such_function")
    assert caught.value.exit_code == 9
    assert "nncf 3.4" in caught.value.message
    with pytest.raises(DependencyError, match=r"module nncf\.no_such_module"):
        require("nncf.no_such_module")


def test_no_module_outside_the_fence_imports_nncf_or_openvino_internals() -> None:
    offenders = []
    for path in sorted(OVQ.rglob("*.py")):
        if FENCE in path.parents:
            continue
        for module in _IMPORT.findall(path.read_text(encoding="utf-8")):
            private = any(part.startswith("_") for part in module.split("."))
            if private or (module.startswith("nncf") and module not in PUBLIC_NNCF):
                offenders.append(f"{path.relative_to(OVQ.parent)}: {module}")
    assert offenders == []
