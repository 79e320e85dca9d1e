"""What the CPU plugin reports on the machine at hand: the source of every class-dependent expectation."""

from __future__ import annotations

import pytest

from ovq.runtime.cpu_class import active_class
from ovq.runtime.execution_precision import default_inference_precision

#: The precision the plugin runs an FP32 model in here ("bf16" on AMX/AVX512-BF16, "f32" elsewhere).
PLUGIN_DEFAULT = default_inference_precision()
#: The class this test process runs as (lowered by OVQ_TEST_CAP).
CLASS = active_class()
#: The name of the uncompressed candidate at the plugin's default: a variant of its own where the default is
#: not f32, the FP32 reference itself where it is.
DEFAULT_VARIANT = "fp32" if PLUGIN_DEFAULT == "f32" else "fp32-default"


def _capabilities() -> list[str]:
    import openvino as ov

    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


#: bf16 compute: the plugin lists it among its capabilities (AVX512-BF16, AMX; not under a lower cap).
HAS_BF16 = "BF16" in _capabilities()
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU (class) has no bf16 compute")
