"""OpenVINO/NNCF usage telemetry is off in every process that imports ovq, unless the user opts in.

Each check runs in a fresh interpreter: NNCF replaces its telemetry with a stub whenever pytest is imported,
so only a process without pytest sees what a user's process sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

NNCF_CONSENT = (
    "from nncf.telemetry.wrapper import telemetry; print('nncf', telemetry._impl.consent)\n"
    "from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry; print('ovc', init_ovc_telemetry().consent)\n"
)


def _run(code: str, **env: str | Path) -> str:
    environment = {key: value for key, value in os.environ.items() if key != "OVQ_VENDOR_TELEMETRY"}
    environment |= {key: str(value) for key, value in env.items()}
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.parametrize("order", ["ovq first", "nncf first"])
def test_consent_is_off_whichever_library_is_imported_first(order: str) -> None:
    imports = "import ovq\nimport nncf\n" if order == "ovq first" else "import nncf\nimport ovq\n"
    assert _run(imports + NNCF_CONSENT).split() == ["nncf", "False", "ovc", "False"]


def test_nothing_is_written_to_the_home_folder(tmp_path: Path) -> None:
    # A declined consent check writes no client id or usage statistics (~/intel/openvino_ga_cid, stats).
    _run("import ovq\nimport nncf\n" + NNCF_CONSENT, HOME=tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_the_patched_package_keeps_its_own_loader() -> None:
    code = (
        "import ovq, importlib.resources, openvino_telemetry.utils.opt_in_checker as m\n"
        "print(type(m.__loader__).__name__, len(list(importlib.resources.files('openvino_telemetry').iterdir())) > 0)"
    )
    assert _run(code).split() == ["SourceFileLoader", "True"]


def test_import_ovq_does_not_import_the_telemetry_package() -> None:
    # The switch is an import hook: `import ovq` (and `ovq --help`) must not pay for openvino_telemetry.
    assert _run("import sys, ovq; print('openvino_telemetry' in sys.modules)").split() == ["False"]


def test_users_can_opt_back_in() -> None:
    code = "import ovq, openvino_telemetry.utils.opt_in_checker as m; print(hasattr(m.OptInChecker, '_ovq_declined'))"
    out = _run(code, OVQ_VENDOR_TELEMETRY="1")
    assert out.split() == ["False"]
