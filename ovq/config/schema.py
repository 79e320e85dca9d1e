"""The pipeline file format: pydantic models with extra="forbid", checked before any model loads.

A typo is an error that names the field path and what is allowed, never a silently ignored key. Cross
checks (dataset and metric names exist, stage order makes sense) run at load time too.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from ovq.config.stages import (
    ALL_RUNGS,
    AccuracyControlSpec,
    BenchmarkStage,
    CompileStage,
    CompressWeightsStage,
    EscalateStage,
    EvaluateStage,
    ExportStage,
    IgnoredScopeSpec,
    OptimizeStage,
    PrecisionStage,
    QatOptions,
    QatStage,
    QuantizeStage,
    Rung,
    StageConfig,
    Strict,
    VariantStage,
)
from ovq.errors import ConfigError, InputFileError

# Re-exported: the whole pipeline schema is importable from ovq.config.schema.
__all__ = [
    "ALL_RUNGS",
    "AccuracyControlSpec",
    "BenchmarkStage",
    "BudgetSpec",
    "CompileStage",
    "CompressWeightsStage",
    "DatasetSpec",
    "EscalateStage",
    "EvaluateStage",
    "ExportStage",
    "IgnoredScopeSpec",
    "MetricBudget",
    "MetricSpec",
    "ModelSource",
    "OptimizeStage",
    "PipelineConfig",
    "PrecisionStage",
    "QatOptions",
    "QatStage",
    "QuantizeStage",
    "Rung",
    "StageConfig",
    "Strict",
    "VariantStage",
    "config_digest",
    "json_schema",
    "load_pipeline",
    "parse_pipeline",
]


# ---------------------------------------------------------------------------------------------- model


class ModelSource(Strict):
    """Where the trained model comes from: exactly one of recipe, factory, onnx, ir."""

    recipe: str | None = Field(None, description="a recipe name under models/ (e.g. digits) or a recipe.py path")
    factory: str | None = Field(
        None, description="'package.module:function' or 'path/file.py:function' returning a torch.nn.Module"
    )
    onnx: str | None = Field(None, description="path to an .onnx file")
    ir: str | None = Field(None, description="path to an OpenVINO IR .xml (its .bin beside it)")

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        given = [k for k in ("recipe", "factory", "onnx", "ir") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of recipe, factory, onnx, ir (got {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("recipe", "factory", "onnx", "ir") if getattr(self, k))


# ---------------------------------------------------------------------------------------------- data


class DatasetSpec(Strict):
    """A dataset: a recipe split, a 'package.module:function' returning an iterable, or .npy/.npz files.

    Items are (inputs, target) pairs; inputs are shaped like the model's inputs, batch dimension included.
    """

    recipe: str | None = Field(None, description="recipe name; defaults to the model's recipe when split is given")
    split: str | None = Field(None, description="the recipe's split, e.g. calibration or validation")
    factory: str | None = Field(None, description="'package.module:function' returning an iterable of items")
    path: str | None = Field(None, description=".npz (arrays 'inputs' and optional 'labels') or .npy of inputs")
    inputs_key: str = Field("inputs", description="array name of the inputs in an .npz")
    labels_key: str = Field("labels", description="array name of the labels in an .npz (optional array)")
    batch_size: int = Field(1, ge=1, description="samples per item when slicing .npy/.npz arrays")
    limit: int | None = Field(None, ge=1, description="use at most this many items")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        sources = [k for k in ("split", "factory", "path") if getattr(self, k)]
        if len(sources) != 1:
            raise ValueError(f"give exactly one of split (with a recipe), factory, path (got {sources or 'none'})")
        if self.recipe and not self.split:
            raise ValueError("recipe needs a split")
        return self


class MetricSpec(Strict):
    function: str = Field(
        description="built-in metric name (top1, mse, cosine, ...) or 'package.module:function' / 'file.py:function'"
    )
    higher_is_better: bool | None = Field(None, description="defaults from the built-in; true for user functions")
    against: Literal["labels", "reference"] = Field(
        "labels", description="compare with the dataset's labels, or with the FP32 variant's outputs"
    )


# ---------------------------------------------------------------------------------------------- budget


class MetricBudget(Strict):
    max_drop: float = Field(ge=0, description="how much worse than FP32 the metric may get")
    drop_type: Literal["absolute", "relative"] = Field(
        "absolute", description="absolute: in the metric's units; relative: as a fraction of the FP32 value"
    )


class BudgetSpec(Strict):
    """An accuracy budget: every listed metric must stay within its max drop of FP32, or the run fails."""

    dataset: str = Field(description="validation dataset the budget is measured on (from datasets:)")
    metrics: dict[str, MetricBudget] = Field(min_length=1, description="metric name (from metrics:) -> its budget")
    select: Literal["fastest", "smallest"] = Field(
        "fastest", description="which variant that meets the budget becomes the deliverable"
    )


# ---------------------------------------------------------------------------------------------- pipeline


class PipelineConfig(Strict):
    name: str = Field(description="pipeline name, used in reports and history")
    description: str | None = Field(None, description="free text, shown in reports")
    model: ModelSource = Field(description="where the trained model comes from")
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict, description="named datasets the stages refer to")
    metrics: dict[str, MetricSpec] = Field(default_factory=dict, description="named metrics the stages refer to")
    budget: BudgetSpec | None = Field(None, description="accuracy budget, enforced after the stages (exit 4 if missed)")
    stages: list[StageConfig] = Field(
        min_length=1, description="export first; compression before compile; evaluate/benchmark after compile"
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        _check_references(self)
        _check_stage_order(self)
        _check_budget(self)
        _check_baselines(self)
        _check_qat(self)
        return self


# Kept here (not imported from ovq.inputs.metrics) so that validating a file never imports numpy-heavy modules.
BUILTIN_METRIC_NAMES = ("cosine", "mse", "top1")


def _check_references(config: PipelineConfig) -> None:
    for name, metric in config.metrics.items():
        if metric.function not in BUILTIN_METRIC_NAMES and ":" not in metric.function:
            raise ValueError(
                f"metrics.{name}.function: {metric.function!r} is neither a built-in metric"
                f" ({', '.join(BUILTIN_METRIC_NAMES)}) nor a 'module:function' reference"
            )
    for name, spec in config.datasets.items():
        if spec.split and not (spec.recipe or config.model.recipe):
            raise ValueError(f"datasets.{name}: split needs a recipe (set recipe here or model.recipe)")
    for index, stage in enumerate(config.stages):
        dataset = getattr(stage, "dataset", None)
        if dataset is not None and dataset not in config.datasets:
            raise ValueError(
                f"stages[{index}] ({stage.stage}).dataset: {dataset!r} is not defined;"
                f" defined datasets: {sorted(config.datasets) or 'none'}"
            )
        if isinstance(stage, EvaluateStage):
            if not config.metrics:
                raise ValueError(f"stages[{index}] (evaluate): no metrics defined; add a metrics: block")
            for metric_name in stage.metrics or []:
                if metric_name not in config.metrics:
                    raise ValueError(
                        f"stages[{index}] (evaluate).metrics: {metric_name!r} is not defined;"
                        f" defined metrics: {sorted(config.metrics)}"
                    )


def _check_qat(config: PipelineConfig) -> None:
    for index, stage in enumerate(config.stages):
        if isinstance(stage, EscalateStage):
            where = f"stages[{index}] (escalate)"
            if config.budget is None:
                raise ValueError(f"{where}: needs a budget: block (the ladder climbs until it holds)")
            if "qat" in stage.rungs and stage.qat is None:
                raise ValueError(
                    f"{where}.qat: the qat rung needs its options (train_dataset, calibration_dataset, ...)"
                )
            if stage.qat is None:
                continue
            options: QatOptions = stage.qat
            where += ".qat"
        elif isinstance(stage, OptimizeStage):
            where = f"stages[{index}] (optimize)"
            if config.budget is None:
                raise ValueError(f"{where}: needs a budget: block (the search keeps what holds it)")
            if stage.qat is None:
                continue
            options, where = stage.qat, where + ".qat"
        elif isinstance(stage, QatStage):
            options = stage
            where = f"stages[{index}] (qat)"
        else:
            continue
        if config.model.kind not in ("recipe", "factory"):
            raise ValueError(f"{where}: QAT trains the torch model; use model.recipe or model.factory")
        if config.budget is None:
            raise ValueError(f"{where}: needs a budget: block (QAT trains until the budget holds)")
        for field in ("train_dataset", "calibration_dataset"):
            name = getattr(options, field)
            if name not in config.datasets:
                raise ValueError(
                    f"{where}.{field}: {name!r} is not defined; defined datasets: {sorted(config.datasets)}"
                )
        first_metric = next(iter(config.budget.metrics))
        if config.metrics[first_metric].against == "reference" and options.teacher is None:
            raise ValueError(
                f"{where}: the budget's first metric {first_metric!r} compares with the FP32 outputs:"
                " set teacher: fp32 (distillation), or budget a metric that compares with labels"
            )
        if options.train_fn and options.max_steps:
            raise ValueError(f"{where}: train_fn and max_steps exclude each other")


def _check_baselines(config: PipelineConfig) -> None:
    for index, stage in enumerate(config.stages):
        if not isinstance(stage, BenchmarkStage) or not stage.baselines:
            continue
        where = f"stages[{index}] (benchmark).baselines"
        source = config.model.kind
        if "pytorch_eager" in stage.baselines and source not in ("recipe", "factory"):
            raise ValueError(f"{where}: pytorch_eager needs a torch model (model.recipe or model.factory)")
        if any(b.startswith("onnxruntime") for b in stage.baselines) and source == "ir":
            raise ValueError(f"{where}: ONNX Runtime baselines need a torch or ONNX model, not an IR")
        calibration = stage.baseline_calibration or next(
            (s.dataset for s in config.stages if isinstance(s, QuantizeStage)), None
        )
        if "onnxruntime_int8" in stage.baselines and calibration is None:
            raise ValueError(f"{where}: onnxruntime_int8 needs baseline_calibration (a dataset name)")
        if stage.baseline_calibration is not None and stage.baseline_calibration not in config.datasets:
            raise ValueError(
                f"stages[{index}] (benchmark).baseline_calibration: {stage.baseline_calibration!r} is not defined"
            )


def _check_budget(config: PipelineConfig) -> None:
    budget = config.budget
    if budget is None:
        for index, stage in enumerate(config.stages):
            if isinstance(stage, QuantizeStage) and stage.accuracy_control and stage.accuracy_control.enabled:
                raise ValueError(
                    f"stages[{index}] (quantize).accuracy_control: needs a budget: block (the metric and max drop)"
                )
        return
    if budget.dataset not in config.datasets:
        raise ValueError(
            f"budget.dataset: {budget.dataset!r} is not defined; defined datasets: {sorted(config.datasets) or 'none'}"
        )
    for metric in budget.metrics:
        if metric not in config.metrics:
            raise ValueError(f"budget.metrics: {metric!r} is not defined; defined metrics: {sorted(config.metrics)}")
    evaluations = [s for s in config.stages if isinstance(s, EvaluateStage) and s.dataset == budget.dataset]
    if not any(set(budget.metrics) <= set(s.metrics or config.metrics) for s in evaluations):
        raise ValueError(
            f"budget: no evaluate stage measures {sorted(budget.metrics)} on {budget.dataset!r};"
            " add `- stage: evaluate` with that dataset after compile"
        )


def _check_stage_order(config: PipelineConfig) -> None:
    kinds = [stage.stage for stage in config.stages]
    if kinds[0] != "export":
        raise ValueError(f"stages[0] must be export (got {kinds[0]}): every pipeline starts from an IR")
    if kinds.count("export") != 1:
        raise ValueError("export may appear only once, as the first stage")
    variants = {config.stages[0].name}  # type: ignore[union-attr]
    compiled = False
    for index, stage in enumerate(config.stages[1:], start=1):
        where = f"stages[{index}] ({stage.stage})"
        if isinstance(stage, VariantStage):
            if compiled:
                raise ValueError(f"{where}: compression must come before compile")
            if stage.source not in variants:
                raise ValueError(f"{where}.source: {stage.source!r} is not produced earlier; known: {sorted(variants)}")
            if stage.name in variants:
                raise ValueError(f"{where}.name: variant {stage.name!r} already exists; names must be unique")
            variants.add(stage.name)
        elif isinstance(stage, CompileStage):
            if compiled:
                raise ValueError(f"{where}: compile may appear only once")
            compiled = True
        elif isinstance(stage, EvaluateStage | BenchmarkStage) and not compiled:
            raise ValueError(f"{where}: needs a compile stage before it")


# ---------------------------------------------------------------------------------------------- loading


def load_pipeline(path: str | Path) -> tuple[PipelineConfig, Path]:
    """Read and validate a pipeline file; returns the config and the folder relative paths resolve against."""
    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"pipeline file not found: {file}", hint="pass the path to a .yaml pipeline file")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}", hint="check indentation and quoting") from None
    return parse_pipeline(raw, source=str(file)), file.resolve().parent


def parse_pipeline(raw: Any, *, source: str = "<config>") -> PipelineConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with name, model and stages")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field path and what is allowed there."""
    lines = []
    for error in exc.errors():
        loc = _format_loc(error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(error["loc"][:-1])
            close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1, cutoff=0.6)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            listing = f" allowed: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{loc}: unknown field{suggestion}{listing}")
        elif error["type"] == "union_tag_invalid":
            lines.append(f"{loc}: unknown stage {error['input'].get('stage')!r}; allowed: {', '.join(STAGE_KINDS)}")
        elif error["type"] == "union_tag_not_found":
            lines.append(f"{loc}: missing 'stage:'; allowed: {', '.join(STAGE_KINDS)}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {message}" if loc else message)
    return "\n  ".join(lines)


STAGE_KINDS = (
    "export",
    "quantize",
    "compress_weights",
    "qat",
    "escalate",
    "optimize",
    "precision",
    "compile",
    "evaluate",
    "benchmark",
)
_STAGE_MODELS: dict[str, type[BaseModel]] = {
    "export": ExportStage,
    "quantize": QuantizeStage,
    "compress_weights": CompressWeightsStage,
    "qat": QatStage,
    "escalate": EscalateStage,
    "optimize": OptimizeStage,
    "precision": PrecisionStage,
    "compile": CompileStage,
    "evaluate": EvaluateStage,
    "benchmark": BenchmarkStage,
}


def _format_loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    skip_next_tag = False
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
            # After a stage index pydantic puts the discriminator tag; it is not a real field.
            skip_next_tag = index > 0 and loc[index - 1] == "stages"
        elif skip_next_tag:
            skip_next_tag = False
        else:
            text += f".{part}" if text else str(part)
    return text


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    """Walk the schema along an error location to list the fields allowed there."""
    model: Any = PipelineConfig
    index = 0
    while index < len(loc):
        part = loc[index]
        if model is PipelineConfig and part == "stages":
            # ("stages", list index, discriminator tag, ...)
            model = _STAGE_MODELS.get(str(loc[index + 2])) if len(loc) > index + 2 else None
            if model is None:
                return []
            index += 3
            continue
        if model is PipelineConfig and part in ("datasets", "metrics"):
            model = DatasetSpec if part == "datasets" else MetricSpec
            index += 2  # the mapping key
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
        index += 1
    return sorted(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def config_digest(config: PipelineConfig) -> str:
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def json_schema() -> dict[str, Any]:
    return PipelineConfig.model_json_schema()
