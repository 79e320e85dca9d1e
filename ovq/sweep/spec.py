"""The sweep file: base pipelines and a grid of dotted-path overrides.

name: digits-grid
pipelines: [../quickstart.yaml]          # relative to this file
set:                                     # applied to every run
  stages.benchmark.duration_s: 2
grid:                                    # every combination is one run (per pipeline)
  stages.quantize.preset: [performance, mixed]
  stages.compile.hint: [latency, throughput]
collect: deliverable                     # IRs each run hands back to the driver: none | deliverable | all
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ovq.config.schema import Strict
from ovq.config.validation_messages import validate_config
from ovq.config.yaml_loader import read_config_file
from ovq.errors import ConfigError

Collect = Literal["none", "deliverable", "all"]


class SweepSpec(Strict):
    name: str = Field(description="sweep name, used in the sweep report")
    description: str | None = Field(None, description="free text, shown in the sweep report")
    pipelines: list[str] = Field(min_length=1, description="base pipeline files, relative to the sweep file")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value, applied to every run")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted path -> list of values; every combination is one run"
    )
    collect: Collect = Field("deliverable", description="IRs every run hands back to the driver")
    tasks_per_node: int = Field(
        2, ge=1, description="runs without a benchmark stage that may share a node (benchmarks always get it alone)"
    )

    @field_validator("grid")
    @classmethod
    def _non_empty_axes(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in grid.items():
            if not values:
                raise ValueError(f"grid.{path}: give at least one value")
        return grid


def load_sweep(path: str | Path) -> tuple[SweepSpec, Path]:
    """Read and validate a sweep file; returns the spec and the folder its relative paths resolve against."""
    file = Path(path)
    raw = read_config_file(file, what="sweep file", hint="pass the path to a sweep .yaml file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping with name, pipelines and grid")
    spec = validate_config(
        SweepSpec,
        raw,
        source=str(file),
        hint="a sweep file has name, pipelines, set, grid, collect, tasks_per_node (docs/how-to/sweeps.md)",
    )
    return spec, file.resolve().parent
