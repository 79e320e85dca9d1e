"""The software and hardware a run measured on: every number in a report is only true for this."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
from typing import Any

import ovq


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def _cpu() -> tuple[str, list[str]]:
    model, flags = platform.processor() or "unknown", []
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = value.split()
                    break
    except OSError:
        pass
    # Only the flags that decide which OpenVINO kernels run.
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")
    return model, [flag for flag in wanted if flag in flags]


def environment() -> dict[str, Any]:
    """Versions (ovq, openvino, nncf, torch), Python, platform and CPU, without importing the heavy libraries."""
    return {
        "ovq": ovq.__version__,
        "openvino": _version("openvino"),
        "nncf": _version("nncf"),
        "torch": _version("torch"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **machine_identity(),
    }


def machine_identity() -> dict[str, Any]:
    """What a measured number depends on in the hardware: CPU model, cores, the flags that pick kernels.

    Part of the cache key of every stage that measures on this machine (evaluate, benchmark, budget-driven
    search): a result measured on another kind of machine is not replayed as if it were measured here.
    """
    from ovq.runtime.cpu_class import active_class, cap_of, host_class

    cpu, flags = _cpu()
    cap = cap_of()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_flags": flags,
        # The class this process runs as (an ISA cap lowers it): the same CPU capped to AVX2 is another machine.
        "cpu_class": active_class().name,
        "host_cpu_class": host_class().name,
        "isa_cap": cap.name if cap is not None else None,
    }
