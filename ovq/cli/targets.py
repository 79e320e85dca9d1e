"""``--target``, shared by `ovq pipeline run`, `ovq optimize` and `ovq benchmark`: the CPU classes to answer for."""

from __future__ import annotations

from typing import Annotated

import typer

from ovq.errors import ConfigError
from ovq.runtime.cpu_class import TARGET_NAMES

TargetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        help=(
            "a CPU class to answer for, repeatable or comma-separated (native, avx2, avx2_vnni, avx512_core,"
            " avx512_core_vnni, avx512_core_bf16, amx). Classes at or below this machine are measured in"
            " ISA-capped workers; a class above it is reported as not measurable here"
        ),
    ),
]


def split_targets(values: list[str] | None) -> list[str] | None:
    """``["native,avx2", "amx"]`` -> ``["native", "avx2", "amx"]`` (None when not given); unknown names refused."""
    if not values:
        return None
    targets = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in targets if name not in TARGET_NAMES]
    if unknown:
        raise ConfigError(
            f"--target: unknown CPU class(es) {', '.join(unknown)}", hint=f"allowed: {', '.join(TARGET_NAMES)}"
        )
    return list(dict.fromkeys(targets)) or None
