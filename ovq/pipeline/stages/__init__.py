"""The stages, each a pure function plus a thin pipeline adapter `run_stage(ctx, stage_config, index, label)`.

The registry is an explicit dict literal: no discovery magic. Adding a stage means a module here, a config
model in ovq/config.py and one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ovq.pipeline.stages import (
    benchmark,
    compile,
    compress_weights,
    escalate,
    evaluate,
    export,
    optimize,
    precision,
    qat,
    quantize,
)

STAGE_ADAPTERS: dict[str, Callable[..., dict[str, Any]]] = {
    "export": export.run_stage,
    "quantize": quantize.run_stage,
    "compress_weights": compress_weights.run_stage,
    "qat": qat.run_stage,
    "escalate": escalate.run_stage,
    "optimize": optimize.run_stage,
    "precision": precision.run_stage,
    "compile": compile.run_stage,
    "evaluate": evaluate.run_stage,
    "benchmark": benchmark.run_stage,
}
