"""Building blocks shared by the pipeline's stage configs (ovq.config.stages, ovq.config.benchmark_stage)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # strict: a boolean is not an integer (`subset_size: true` is an error, not 1 sample) and a string is not
    # a number; allow_inf_nan=False: `duration_s: .inf` is an error, not a benchmark that never ends.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Hint = Literal["latency", "throughput", "cumulative_throughput"]
PositiveInt = Annotated[int, Field(ge=1)]
# Input shapes by input name or in input order; in a matrix, static sizes only (a cell compiles a static model).
Shapes = dict[str, list[int]] | list[list[int]]
