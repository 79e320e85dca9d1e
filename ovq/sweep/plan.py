"""The one code path that decides what a sweep runs: every pipeline x every grid combination, validated.

Overrides are dotted paths into the pipeline file: ``model.onnx``, ``budget.metrics.top1.max_drop``,
``datasets.calibration.limit``, ``stages.SELECTOR.FIELD`` where SELECTOR is a stage kind that appears once
(``quantize``), a variant name (``int8``) or a position (``1``). A path is checked against the schema while
it is walked: a path that matches nothing (an unknown field, a stage or dataset that is not there) is a
ConfigError before anything runs. Setting ``model.<kind>`` replaces the model source (``model.onnx: a.onnx``
on a recipe pipeline drops the recipe). Relative paths in values resolve against the pipeline's folder.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import re
from collections.abc import Collection
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from ovq.config.benchmark_stage import BenchmarkStage
from ovq.config.schema import ModelSource, PipelineConfig, load_pipeline, parse_pipeline
from ovq.config.stages import (
    CompileStage,
    CompressWeightsStage,
    EscalateStage,
    EvaluateStage,
    ExportStage,
    PrecisionStage,
    QatStage,
    QuantizeStage,
)
from ovq.errors import ConfigError, InputFileError
from ovq.sweep.spec import SweepSpec
from ovq.sweep.task import RunTask

MODEL_SOURCES = ("recipe", "factory", "onnx", "ir")
STAGE_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["stage"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        ExportStage,
        QuantizeStage,
        CompressWeightsStage,
        QatStage,
        EscalateStage,
        PrecisionStage,
        CompileStage,
        EvaluateStage,
        BenchmarkStage,
    )
}
HINT = "override paths look like stages.quantize.preset, model.onnx, datasets.NAME.limit (docs/how-to/sweeps.md)"


def plan_sweep(
    spec: SweepSpec,
    sweep_dir: Path,
    out_dir: Path,
    *,
    cache: bool = True,
    fresh: bool = False,
    remeasure: Collection[str] = (),
) -> list[RunTask]:
    """Every run of the sweep, validated; raises ConfigError (nothing has run yet) on the first bad override.

    remeasure: stage kinds every run executes again instead of replaying them from the cache (`ovq sweep
    --remeasure` passes ("benchmark",): fresh throughputs, cached export and quantization).
    """
    axes = list(spec.grid.items())
    combinations = list(itertools.product(*(values for _, values in axes))) if axes else [()]
    tasks: list[RunTask] = []
    for pipeline in spec.pipelines:
        file = (sweep_dir / pipeline).resolve()
        if not file.is_file():
            raise InputFileError(f"sweep pipelines: {pipeline} not found (looked at {file})")
        base_config, base_dir = load_pipeline(file)
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        for combination in combinations:
            grid_values = {path: value for (path, _), value in zip(axes, combination, strict=True)}
            overrides = {**spec.set, **grid_values}
            config = apply_overrides(raw, base_config, overrides, where=f"{file.name}")
            run_id = f"{len(tasks) + 1:03d}-{_slug(file.stem)}"
            tasks.append(
                RunTask(
                    run_id=run_id,
                    label=_label(grid_values),
                    pipeline=base_config.name,
                    pipeline_file=str(file),
                    base_dir=str(base_dir),
                    model=_model_label(base_config, config, overrides),
                    overrides=grid_values,
                    config=config.model_dump(mode="json", exclude_unset=True),
                    run_dir=str((out_dir / "runs" / run_id).resolve()),
                    whole_node=any(stage.stage == "benchmark" for stage in config.stages),
                    cache=cache,
                    fresh=fresh,
                    remeasure=tuple(remeasure),
                    collect=spec.collect,
                    tasks_per_node=spec.tasks_per_node,
                )
            )
    return tasks


def apply_overrides(
    raw: dict[str, Any], base: PipelineConfig, overrides: dict[str, Any], *, where: str
) -> PipelineConfig:
    """A copy of the raw pipeline with every override set, validated like a pipeline file."""
    document = copy.deepcopy(raw)
    for path, value in overrides.items():
        container, key = resolve_path(document, base, path)
        if container is document.get("model") and key in MODEL_SOURCES:
            for other in MODEL_SOURCES:
                container.pop(other, None)
        container[key] = copy.deepcopy(value)
    described = ", ".join(f"{p}={_short(v)}" for p, v in overrides.items()) or "no overrides"
    try:
        return parse_pipeline(document, source=f"{where} with {described}")
    except ConfigError as exc:
        raise ConfigError(exc.message, hint="an override value is not allowed there; " + HINT) from None


def resolve_path(document: dict[str, Any], base: PipelineConfig, path: str) -> tuple[dict[str, Any], str]:
    """The mapping and key a dotted path sets, walked against the schema; ConfigError if it matches nothing."""
    parts = path.split(".")
    if not all(parts):
        raise ConfigError(f"override {path!r}: empty segment in the dotted path", hint=HINT)
    node: dict[str, Any] = document
    model: type[BaseModel] | None = PipelineConfig
    walked = ""
    index = 0
    while index < len(parts):
        part = parts[index]
        is_last = index == len(parts) - 1
        if model is PipelineConfig and part == "stages":
            if index + 2 >= len(parts):
                raise ConfigError(f"override {path!r}: name a stage and one of its fields (stages.quantize.preset)")
            stage_index = _select_stage(base, parts[index + 1], path)
            node = document["stages"][stage_index]
            model = STAGE_MODELS[node["stage"]]
            walked = f"stages.{parts[index + 1]}"
            index += 2
            continue
        if model is None:
            raise ConfigError(f"override {path!r}: {walked} is a value, not a mapping; it has no {part!r}", hint=HINT)
        field = model.model_fields.get(part)
        if field is None or part == "stage":
            allowed = sorted(name for name in model.model_fields if name != "stage")
            close = difflib.get_close_matches(part, allowed, n=1, cutoff=0.6)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"override {path!r} matches nothing: {walked or 'the pipeline'} has no field {part!r}{suggestion};"
                f" fields: {', '.join(allowed)}",
                hint=HINT,
            )
        if is_last:
            return node, part
        value_model, is_mapping = _field_shape(field.annotation)
        child = node.get(part)
        walked = f"{walked}.{part}" if walked else part
        if is_mapping:
            key = parts[index + 1]
            entries = child if isinstance(child, dict) else {}
            if key not in entries:
                raise ConfigError(
                    f"override {path!r} matches nothing: {walked} has no entry {key!r};"
                    f" entries: {', '.join(sorted(entries)) or 'none'}",
                    hint=HINT,
                )
            if index + 1 == len(parts) - 1:
                return entries, key
            node, model, walked, index = entries[key], value_model, f"{walked}.{key}", index + 2
            continue
        if value_model is None:
            raise ConfigError(f"override {path!r}: {walked} is a value, not a mapping", hint=HINT)
        if child is None:
            # An optional block the file leaves out (accuracy_control, ignored_scope): the override writes it.
            child = node[part] = {}
        node, model, index = child, value_model, index + 1
    raise AssertionError("unreachable: the loop returns on the last segment")


def _select_stage(base: PipelineConfig, selector: str, path: str) -> int:
    stages = base.stages
    if selector.isdigit():
        if int(selector) < len(stages):
            return int(selector)
        raise ConfigError(f"override {path!r} matches nothing: the pipeline has {len(stages)} stages", hint=HINT)
    by_kind = [i for i, stage in enumerate(stages) if stage.stage == selector]
    if len(by_kind) == 1:
        return by_kind[0]
    by_name = [i for i, stage in enumerate(stages) if getattr(stage, "name", None) == selector]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_kind) > 1:
        names = [str(getattr(stages[i], "name", i)) for i in by_kind]
        raise ConfigError(
            f"override {path!r}: {len(by_kind)} {selector} stages;"
            f" address one by its variant name ({', '.join(names)})",
            hint=HINT,
        )
    known = sorted({stage.stage for stage in stages} | {str(n) for s in stages if (n := getattr(s, "name", None))})
    raise ConfigError(
        f"override {path!r} matches nothing: no stage {selector!r} in the pipeline; stages: {', '.join(known)}",
        hint=HINT,
    )


def _field_shape(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model of the value, whether the field is a name -> value mapping) for a field's annotation."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        for arg in get_args(annotation):
            found, is_mapping = _field_shape(arg)
            if found is not None or is_mapping:
                return found, is_mapping
        return None, False
    if origin is dict:
        value = get_args(annotation)[1]
        return (value if isinstance(value, type) and issubclass(value, BaseModel) else None), True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _model_label(base: PipelineConfig, config: PipelineConfig, overrides: dict[str, Any]) -> str:
    """Which model a run is about: the pipeline's name, plus the model file when the sweep swaps models."""
    source: ModelSource = config.model
    if any(path.startswith("model.") for path in overrides):
        value = str(getattr(source, source.kind))
        return f"{base.name}:{Path(value.split(':')[0]).name if source.kind != 'recipe' else value}"
    return base.name


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{path.rsplit('.', 1)[-1]}={_short(value)}" for path, value in values.items())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "run"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
