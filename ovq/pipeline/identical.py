"""Variants that compile to the same thing: recognised before benchmarking, measured once, never ranked.

On an f32-default CPU a variant declared "at the plugin's default" *is* the FP32 model compiled the same
way; two stages with the same settings can also produce the same IR. Measuring both and ranking them would
let the machine's noise call one "faster" than itself. The identity of a compiled variant is the sha256 of
its IR bytes together with what the plugin resolved at compile time (hint, inference precision, streams,
threads, requests and the other read-back properties). Not part of it: the time it took to compile, and
ovq's own provenance block in the IR's rt_info (which stage wrote the file), which the plugin never reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ovq.runtime.artifacts import file_digest

if TYPE_CHECKING:
    from ovq.pipeline.context import Variant

#: compile_info keys that describe the compile itself, not what was compiled.
_NOT_IDENTITY = ("compile_ms", "memory")
#: ovq's provenance in the IR's rt_info (ovq.runtime.artifacts): names the stage that wrote the file.
_PROVENANCE = re.compile(rb"<ovq>.*?</ovq>", re.DOTALL)


def model_digest(xml_path: Path) -> str:
    """sha256 of what the plugin compiles: the IR's xml without ovq's provenance block, and its weights."""
    digest = hashlib.sha256(_PROVENANCE.sub(b"", xml_path.read_bytes()))
    digest.update(file_digest(xml_path.with_suffix(".bin")).encode())
    return digest.hexdigest()


def compiled_digest(variant: Variant) -> str:
    """The identity of a compiled variant: IR bytes + resolved compile settings (see the module docstring)."""
    settings = {key: value for key, value in (variant.compile_info or {}).items() if key not in _NOT_IDENTITY}
    payload = json.dumps({"ir": model_digest(variant.model_path), "compiled": settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def identity_groups(variants: Iterable[Variant]) -> dict[str, list[Variant]]:
    """Variants grouped by :func:`compiled_digest`, in their order; the first of each group is measured."""
    groups: dict[str, list[Variant]] = {}
    for variant in variants:
        groups.setdefault(compiled_digest(variant), []).append(variant)
    return groups
