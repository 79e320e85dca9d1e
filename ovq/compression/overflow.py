"""The INT8 overflow handling a CPU class needs, applied the same way by PTQ, accuracy control and QAT.

Without VNNI (the avx2 and avx512_core classes) the CPU plugin multiplies u8 activations by s8 weights with
``vpmaddubsw``, which sums adjacent products into a *saturating* int16: two large products overflow and the
layer's output is silently clipped. NNCF's overflow fix quantizes weights to half their range (7 bits) so no
pair can overflow; with VNNI the products go straight into int32 and the full 8 bits are safe.

So the mode is chosen from the classes the model will run on, not from the machine that quantizes it:

- ``enable``: every weight quantizer at half range — needed as soon as one target class lacks VNNI;
- ``disable``: the full 8 bits everywhere — what VNNI targets run exactly, so the default for them;
- ``first_layer``: NNCF's own default, only the first layer's weights at half range (a user's explicit choice).

Example::

    overflow_fix_for([cpu_class("avx2")])               # "enable"
    overflow_fix_for([cpu_class("avx512_core_vnni")])   # "disable"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from ovq.runtime.cpu_class import CpuClass, active_class

OverflowFixMode = Literal["enable", "first_layer", "disable"]
OVERFLOW_FIX_MODES: tuple[OverflowFixMode, ...] = ("enable", "first_layer", "disable")


_NNCF_MODE = {
    "enable": lambda enum: enum.ENABLE,
    "first_layer": lambda enum: enum.FIRST_LAYER,
    "disable": lambda enum: enum.DISABLE,
}


def overflow_fix_for(targets: Iterable[CpuClass] | None = None) -> OverflowFixMode:
    """The overflow fix INT8 weights need to be exact on every one of ``targets`` (default: this process's class)."""
    classes = list(targets) if targets is not None else [active_class()]
    return "enable" if any(not target.vnni for target in classes) else "disable"


def with_overflow_fix(advanced_parameters: Any, mode: OverflowFixMode) -> Any:
    """NNCF advanced quantization parameters (a copy when given) with ``mode`` as their overflow fix."""
    import copy

    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    parameters = copy.copy(advanced_parameters) if advanced_parameters is not None else AdvancedQuantizationParameters()
    parameters.overflow_fix = _NNCF_MODE[mode](OverflowFix)
    return parameters
