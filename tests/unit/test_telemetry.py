"""OpenVINO/NNCF usage telemetry is off in every process that imports ovq, unless the user opts in.

Each check runs in a fresh interpreter: NNCF replaces its telemetry with a stub whenever pytest is imported,
so only a process without pytest sees what a user's process sees.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

NNCF_CONSENT = (
    "from nncf.telemetry.wrapper import telemetry; print('nncf', telemetry._impl.consent)\n"
    "from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry; print('ovc', init_ovc_telemetry().consent)\n"
)


def _run(code: str, **env: str) -> str:
    environment = {key: value for key, value in os.environ.items() if key != "OVQ_VENDOR_TELEMETRY"} | env
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.parametrize("order", ["ovq first", "nncf first"])
def test_consent_is_off_whichever_library_is_imported_first(order: str) -> None:
    imports = "import ovq\nimport nncf\n" if order == "ovq first" else "import nncf\nimport ovq\n"
    assert _run(imports + NNCF_CONSENT).split() == ["nncf", "False", "ovc", "False"]


def test_import_ovq_does_not_import_the_telemetry_package() -> None:
    # The switch is an import hook: `import ovq` (and `ovq --help`) must not pay for openvino_telemetry.
    assert _run("import sys, ovq; print('openvino_telemetry' in sys.modules)").split() == ["False"]


def test_users_can_opt_back_in() -> None:
    code = "import ovq, openvino_telemetry as t; print(hasattr(t.Telemetry, '_ovq_consent_off'))"
    out = _run(code, OVQ_VENDOR_TELEMETRY="1")
    assert out.split() == ["False"]
