"""CPU classes: which kernels the CPU plugin can run here, what that means for INT8, and how to emulate a lower one.

The same IR ranks differently on different CPUs: on AMX INT8 is ~2x bf16, on AVX2 without VNNI INT8 is ~1.1x
f32 and its u8 x s8 products are summed through saturating int16 pairs (hence NNCF's overflow fix). A run
names the class it measured on, and can measure the classes below the host by capping the ISA of a worker
process (``ONEDNN_MAX_CPU_ISA`` for oneDNN's kernels, ``OV_CPU_MAX_ISA`` for the plugin's own decisions,
such as its default inference precision); both are read when the plugin first looks at the CPU, so a cap
applies to a whole process and is set before OpenVINO is imported.

Example::

    host_class().name                       # "avx512_core_bf16"
    cap_environment(cpu_class("avx2"))      # {"ONEDNN_MAX_CPU_ISA": "AVX2", "OV_CPU_MAX_ISA": "AVX2"}
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The environment variables that cap the ISA; set both, the plugin honours each for a different part.
CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "OV_CPU_MAX_ISA")


@dataclass(frozen=True)
class CpuClass:
    """One x86-64 class, as the CPU plugin sees it (ordered: each one runs every kernel of those below it)."""

    name: str  # ovq's name, used in configs and reports ("avx2", "amx", ...)
    isa: str  # oneDNN's name of the ISA, the value of the cap variables
    rank: int
    vnni: bool  # INT8 dot products in one instruction (no saturating int16 intermediate)
    bf16: bool  # bf16 compute: the plugin's default precision for an FP32 model is bf16
    int8: str  # what the class means for INT8, in one line

    @property
    def default_precision(self) -> str:
        """The precision the plugin runs an FP32 model in on this class when none is asked for."""
        return "bf16" if self.bf16 else "f32"

    def describe(self) -> str:
        """``avx2 (default precision f32; INT8: ...)``: the class as the report and console name it."""
        return f"{self.name} (default precision {self.default_precision}; INT8: {self.int8})"


_NO_VNNI = "no VNNI: u8 x s8 sums saturate through int16 (overflow fix needed), INT8 ~1.1x f32 at best"
CLASSES: tuple[CpuClass, ...] = (
    CpuClass("avx2", "AVX2", 0, vnni=False, bf16=False, int8=_NO_VNNI),
    CpuClass("avx2_vnni", "AVX2_VNNI", 1, vnni=True, bf16=False, int8="AVX-VNNI: exact int32 sums, 256-bit"),
    CpuClass("avx512_core", "AVX512_CORE", 2, vnni=False, bf16=False, int8=_NO_VNNI),
    CpuClass("avx512_core_vnni", "AVX512_CORE_VNNI", 3, vnni=True, bf16=False, int8="VNNI: exact int32 sums"),
    CpuClass(
        "avx512_core_bf16",
        "AVX512_CORE_BF16",
        4,
        vnni=True,
        bf16=True,
        int8="VNNI: exact int32 sums; the bar to beat is bf16, not f32",
    ),
    CpuClass(
        "amx", "AVX512_CORE_AMX", 5, vnni=True, bf16=True, int8="AMX tiles: INT8 ~2x bf16; the bar to beat is bf16"
    ),
)
_BY_NAME = {c.name: c for c in CLASSES}
_BY_ISA = {c.isa: c for c in CLASSES}
#: What a user may write for a target: a class name, or "native" (the host as it is).
NATIVE = "native"
TARGET_NAMES = (NATIVE, *_BY_NAME)


def cpu_class(name: str) -> CpuClass:
    """The class of that name (ovq's or oneDNN's spelling, any case); ValueError for an unknown one."""
    key = name.strip().lower()
    found = _BY_NAME.get(key) or _BY_ISA.get(name.strip().upper())
    if found is None:
        raise ValueError(f"unknown CPU class {name!r}; allowed: {', '.join(TARGET_NAMES)}")
    return found


def class_of_flags(flags: Iterable[str]) -> CpuClass:
    """The highest class a CPU with these /proc/cpuinfo flags runs (AVX2 is the floor ovq supports)."""
    have = set(flags)
    if {"amx_int8", "amx_bf16", "amx_tile"} <= have:
        return _BY_NAME["amx"]
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= have:
        if "avx512_bf16" in have:
            return _BY_NAME["avx512_core_bf16"]
        return _BY_NAME["avx512_core_vnni" if "avx512_vnni" in have else "avx512_core"]
    return _BY_NAME["avx2_vnni" if "avx_vnni" in have else "avx2"]


@functools.cache
def _cpuinfo_flags() -> tuple[str, ...]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return tuple(value.split())
    except OSError:
        pass
    return ()


def host_class() -> CpuClass:
    """The class of this machine's CPU, uncapped."""
    return class_of_flags(_cpuinfo_flags())


def cap_of(environ: Mapping[str, str] | None = None) -> CpuClass | None:
    """The class this process is capped to by its environment (None: not capped or an unknown value)."""
    environ = os.environ if environ is None else environ
    values = [environ.get(variable, "").strip() for variable in CAP_VARIABLES]
    caps = [_BY_ISA.get(value.upper()) for value in values if value]
    known = [c for c in caps if c is not None]
    return min(known, key=lambda c: c.rank) if known else None


def active_class(environ: Mapping[str, str] | None = None) -> CpuClass:
    """The class this process runs as: the host's, lowered by an ISA cap in its environment."""
    host, cap = host_class(), cap_of(environ)
    return cap if cap is not None and cap.rank < host.rank else host


def cap_environment(target: CpuClass) -> dict[str, str]:
    """The environment that caps a fresh process to ``target`` (both variables, one value)."""
    return dict.fromkeys(CAP_VARIABLES, target.isa)


def is_emulable(target: CpuClass, host: CpuClass | None = None, flags: Iterable[str] | None = None) -> bool:
    """Whether this host can run as ``target`` by capping: a class at or below it.

    AVX2-VNNI is the one class not contained in those above it (its VNNI is a VEX encoding that AVX-512
    CPUs before Sapphire Rapids lack): it is emulable only where the CPU has ``avx_vnni``.
    """
    host = host or host_class()
    if target.name == "avx2_vnni" and host.name != "avx2_vnni":
        return "avx_vnni" in set(_cpuinfo_flags() if flags is None else flags)
    return target.rank <= host.rank


def classes_to_check_below(host: CpuClass | None = None) -> list[CpuClass]:
    """The lower classes a suite reruns its class-dependent tests under: one per distinct INT8/precision behaviour.

    Behaviour is (VNNI, bf16): classes that share it with the host or with a lower class already picked run the
    same numerics and the same default precision, so they would repeat a run. Lowest first, so AVX2 (the floor
    of the fleet) is always checked from any host above it.
    """
    host = host or host_class()
    seen = {(host.vnni, host.bf16)}
    picked = []
    for candidate in CLASSES:
        behaviour = (candidate.vnni, candidate.bf16)
        floor = candidate.name == "avx2" and host.name != "avx2"  # the fleet's floor, checked from any host above
        if candidate.rank < host.rank and (floor or behaviour not in seen) and is_emulable(candidate, host):
            seen.add(behaviour)
            picked.append(candidate)
    return picked


#: ISA tokens in the plugin's kernel names (``brgconv_avx512_amx_I8``, ``jit_avx2_I8``, ``brgemm_avx512_bf16``).
_KERNEL_ISA = re.compile(r"(amx|avx512|avx2|sse42|uni|ref|mlas|acl)", re.IGNORECASE)


def kernels_above(target: CpuClass, kernels: Iterable[str]) -> list[str]:
    """Executed kernel names that need more than ``target`` runs: the proof that a cap did (not) hold.

    A kernel naming AMX needs the amx class; one naming AVX-512 an avx512 class; a bf16 compute kernel a
    bf16 class. Names that state no ISA (``jit_uni``, ``ref``, MLAS's ``gemm_mlas``) cannot be checked
    and are not counted (MLAS picks its f32 kernels by itself; their numerics do not depend on the class).
    """
    above = []
    for kernel in sorted(set(kernels)):
        lower = kernel.lower()
        needs_amx = "amx" in lower and target.name != "amx"
        needs_avx512 = "avx512" in lower and target.rank < _BY_NAME["avx512_core"].rank
        computes_bf16 = lower.endswith("_bf16") and not lower.startswith(("jit_uni", "unknown", "ref"))
        if needs_amx or needs_avx512 or (computes_bf16 and not target.bf16):
            above.append(kernel)
    return above


def probe_kernels() -> tuple[str, list[str], list[str]]:
    """(default precision, optimisation capabilities, executed kernels) of a small FP32 CNN in this process."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    core = ov.Core()
    data = ops.parameter([1, 8, 16, 16], np.float32)
    weights = ops.constant(np.random.default_rng(0).standard_normal((16, 8, 3, 3)).astype(np.float32))
    conv = ops.convolution(data, weights, [1, 1], [1, 1], [1, 1], [1, 1])
    flat = ops.reshape(ops.relu(conv), ops.constant(np.array([1, -1], np.int64)), False)
    dense = ops.constant(np.random.default_rng(1).standard_normal((16 * 16 * 16, 10)).astype(np.float32))
    model = ov.Model([ops.matmul(flat, dense, False, False)], [data])
    compiled = core.compile_model(model, "CPU", {"PERF_COUNT": "YES"})
    request = compiled.create_infer_request()
    request.infer({0: np.ones((1, 8, 16, 16), np.float32)})
    precision = core.get_property("CPU", "INFERENCE_PRECISION_HINT")
    default = str(precision.get_type_name()) if hasattr(precision, "get_type_name") else str(precision)
    capabilities = [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
    return default, capabilities, sorted({info.exec_type for info in request.profiling_info})


def prove_cap(target: CpuClass) -> str | None:
    """None when this process really runs as ``target``, else what contradicts it (one line).

    Asked of the plugin, not of the environment: its default precision must be the class's, bf16 must be a
    capability exactly where the class has it, and no executed kernel may need more than the class runs.
    """
    default, capabilities, kernels = probe_kernels()
    if default != target.default_precision:
        return f"the plugin's default precision is {default}, {target.name} runs {target.default_precision}"
    if ("BF16" in capabilities) != target.bf16:
        return f"the plugin reports capabilities {capabilities}, which do not match {target.name}"
    above = kernels_above(target, kernels)
    if above:
        return f"kernels above {target.name} executed: {', '.join(above)}"
    return None


if __name__ == "__main__":
    # ``python -m ovq.runtime.cpu_class --below``: the caps ./dev test reruns the class-dependent tests under.
    import sys

    if sys.argv[1:] == ["--below"]:
        print(" ".join(c.name for c in classes_to_check_below()))
    elif sys.argv[1:] == ["--ray-resources"]:
        # For `ray start ... --resources="$(python -m ovq.runtime.cpu_class --ray-resources)"`: the node's slot
        # and its class (after any cap in this environment), so targets of that class are measured there.
        import json

        print(json.dumps({"ovq_node": 1, f"ovq_class_{active_class().name}": 1}))
    else:
        print(host_class().describe())
