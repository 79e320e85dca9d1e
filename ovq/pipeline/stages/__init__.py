"""The stage adapters (the Stage protocol is in base.py), registered once by their config model's kind.

Stage kinds are spelled once, as the `stage:` literals of the config models in ovq/config/stages.py (which
`ovq pipeline validate` reads without importing any of this). Adding a stage means a config model there,
an adapter module here and its class in the tuple below; a kind without an adapter fails at import.
"""

from __future__ import annotations

from typing import Any

from ovq.config.stages import STAGE_KINDS
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.pipeline.stages.benchmark import Benchmark
from ovq.pipeline.stages.compile import Compile
from ovq.pipeline.stages.compress_weights import CompressWeights
from ovq.pipeline.stages.escalate import Escalate
from ovq.pipeline.stages.evaluate import Evaluate
from ovq.pipeline.stages.export import Export
from ovq.pipeline.stages.optimize import Optimize
from ovq.pipeline.stages.precision import Precision
from ovq.pipeline.stages.qat import Qat
from ovq.pipeline.stages.quantize import Quantize

_ADAPTERS: tuple[StageAdapter[Any], ...] = (
    Export(),
    Quantize(),
    CompressWeights(),
    Qat(),
    Escalate(),
    Optimize(),
    Precision(),
    Compile(),
    Evaluate(),
    Benchmark(),
)
STAGE_ADAPTERS: dict[str, StageAdapter[Any]] = {adapter.kind: adapter for adapter in _ADAPTERS}
if set(STAGE_ADAPTERS) != set(STAGE_KINDS) or len(STAGE_ADAPTERS) != len(_ADAPTERS):
    raise ImportError(f"stage adapters {sorted(STAGE_ADAPTERS)} do not match the stage kinds {sorted(STAGE_KINDS)}")

__all__ = ["STAGE_ADAPTERS", "StageAdapter", "StageResult"]
