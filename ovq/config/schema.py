"""The pipeline file format: pydantic models with extra="forbid", checked before any model loads.

A typo is an error that names the field path and what is allowed, never a silently ignored key. Cross
checks (dataset and metric names exist, stage order makes sense) run at load time too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ovq.config.base import Strict
from ovq.config.benchmark_stage import BenchmarkMatrix, BenchmarkStage
from ovq.config.images import ImagePreprocess
from ovq.config.stages import (
    ALL_RUNGS,
    AccuracyControlSpec,
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
    VariantStage,
    check_matrix,
)
from ovq.config.validation_messages import validate_config
from ovq.config.yaml_loader import read_config_file
from ovq.errors import ConfigError

# Re-exported: the whole pipeline schema is importable from ovq.config.schema.
__all__ = [
    "ALL_RUNGS",
    "AccuracyControlSpec",
    "BenchmarkMatrix",
    "BenchmarkStage",
    "BudgetSpec",
    "CompileStage",
    "CompressWeightsStage",
    "DatasetSpec",
    "EscalateStage",
    "EvaluateStage",
    "ExportStage",
    "IgnoredScopeSpec",
    "ImagePreprocess",
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


MODEL_SOURCE_KINDS = ("recipe", "factory", "onnx", "tflite", "ir")


class ModelSource(Strict):
    """Where the trained model comes from: exactly one of recipe, factory, onnx, tflite, ir.

    File paths are relative to the pipeline file, or `pkg:PACKAGE/path` for a file shipped in an installed
    Python package.
    """

    recipe: str | None = Field(None, description="a recipe name under models/ (e.g. digits) or a recipe.py path")
    factory: str | None = Field(
        None, description="'package.module:function' or 'path/file.py:function' returning a torch.nn.Module"
    )
    onnx: str | None = Field(None, description="path to an .onnx file")
    tflite: str | None = Field(None, description="path to a .tflite file (read by OpenVINO's TFLite frontend)")
    ir: str | None = Field(None, description="path to an OpenVINO IR .xml (its .bin beside it)")

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        given = [k for k in MODEL_SOURCE_KINDS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(MODEL_SOURCE_KINDS)} (got {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in MODEL_SOURCE_KINDS if getattr(self, k))


# ---------------------------------------------------------------------------------------------- data


class DatasetSpec(Strict):
    """A dataset: a recipe split, a 'package.module:function' returning an iterable, .npy/.npz files or an
    image folder.

    Items are (inputs, target) pairs; inputs are shaped like the model's inputs, batch dimension included.
    """

    recipe: str | None = Field(None, description="recipe name; defaults to the model's recipe when split is given")
    split: str | None = Field(None, description="the recipe's split, e.g. calibration or validation")
    factory: str | None = Field(None, description="'package.module:function' returning an iterable of items")
    path: str | None = Field(
        None,
        description=(
            ".npy of inputs, or .npz: array 'inputs' (+ optional 'labels'), or one array per model input named"
            " like the input (0-d arrays are shared by every item)"
        ),
    )
    images: str | None = Field(
        None, description="a folder of .jpg/.png/.bmp/.webp images (searched recursively, sorted by path)"
    )
    labels: str | None = Field(
        None,
        description=(
            "images only: 'folders' (the sub-folder name is the class; classes numbered in sorted order)"
            " or a .csv with columns file,label (file relative to the folder)"
        ),
    )
    preprocess: ImagePreprocess | None = Field(
        None, description="images only: how each image becomes an input (default: own size, RGB, [0,1], NCHW)"
    )
    inputs_key: str = Field("inputs", description="array name of the inputs in an .npz")
    labels_key: str = Field("labels", description="array name of the labels in an .npz (optional array)")
    batch_size: int = Field(1, ge=1, description="samples per item when slicing .npy/.npz arrays or images")
    limit: int | None = Field(None, ge=1, description="use at most this many items")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        sources = [k for k in ("split", "factory", "path", "images") if getattr(self, k)]
        if len(sources) != 1:
            raise ValueError(
                f"give exactly one of split (with a recipe), factory, path, images (got {sources or 'none'})"
            )
        if self.recipe and not self.split:
            raise ValueError("recipe needs a split")
        if not self.images and (self.labels is not None or self.preprocess is not None):
            raise ValueError("labels and preprocess apply to image folders (images:) only")
        if self.labels is not None and self.labels != "folders" and not self.labels.endswith(".csv"):
            raise ValueError(f"labels: 'folders' or a .csv file, got {self.labels!r}")
        return self


class MetricSpec(Strict):
    """A metric: fn(outputs, targets) -> float.

    outputs[i] is the model's first output for item i (a numpy array, batch dimension included; for a
    model with several outputs, the first one). targets[i] is item i's label (against: labels), the FP32
    reference variant's first output for item i (against: reference), or targets is None (against: none).
    """

    function: str = Field(
        description="built-in metric name (top1, mse, cosine, ...) or 'package.module:function' / 'file.py:function'"
    )
    higher_is_better: bool | None = Field(None, description="defaults from the built-in; true for user functions")
    against: Literal["labels", "reference", "none"] = Field(
        "labels",
        description=(
            "compare with the dataset's labels, with the FP32 variant's outputs (agreement, for unlabeled"
            " data), or none: the function gets targets=None"
        ),
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
        if not self.name.strip():
            raise ValueError("name: must not be empty (it names the run folder and the history)")
        _check_references(self)
        _check_stage_order(self)
        _check_budget(self)
        _check_baselines(self)
        _check_qat(self)
        check_matrix(self.stages)
        return self


# Kept here (not imported from ovq.inputs.metrics) so that validating a file never imports numpy-heavy modules.
BUILTIN_METRIC_NAMES = ("cosine", "mse", "top1")


def code_reference_problem(reference: str) -> str | None:
    """Why a 'package.module:function' / 'path/file.py:function' reference is malformed, or None."""
    module_part, sep, attribute = reference.rpartition(":")
    if not sep or not module_part or not attribute:
        return "is not 'package.module:function' or 'path/file.py:function'"
    if not attribute.isidentifier():
        return f"function name {attribute!r} is not a Python identifier"
    if not module_part.endswith(".py") and not all(part.isidentifier() for part in module_part.split(".")):
        return f"{module_part!r} is neither a dotted module name nor a .py file path"
    return None


def code_references(config: PipelineConfig) -> list[tuple[str, str]]:
    """(field path, reference) of every piece of user code a pipeline names."""
    found = []
    if config.model.factory:
        found.append(("model.factory", config.model.factory))
    found += [(f"datasets.{name}.factory", spec.factory) for name, spec in config.datasets.items() if spec.factory]
    found += [
        (f"metrics.{name}.function", spec.function)
        for name, spec in config.metrics.items()
        if spec.function not in BUILTIN_METRIC_NAMES
    ]
    for index, stage in enumerate(config.stages):
        options = stage.qat if isinstance(stage, EscalateStage) else stage
        if isinstance(options, QatOptions):
            where = f"stages[{index}] ({stage.stage})" + (".qat" if options is not stage else "")
            if ":" in options.loss:
                found.append((f"{where}.loss", options.loss))
            if options.train_fn:
                found.append((f"{where}.train_fn", options.train_fn))
    return found


def _check_references(config: PipelineConfig) -> None:
    for name, metric in config.metrics.items():
        if metric.function not in BUILTIN_METRIC_NAMES and ":" not in metric.function:
            raise ValueError(
                f"metrics.{name}.function: {metric.function!r} is neither a built-in metric"
                f" ({', '.join(BUILTIN_METRIC_NAMES)}) nor a 'module:function' reference"
            )
        if metric.function in BUILTIN_METRIC_NAMES and metric.against == "none":
            raise ValueError(
                f"metrics.{name}: the built-in {metric.function} compares with targets; use against: labels or"
                " reference, or a function of the outputs alone for against: none"
            )
    for where, reference in code_references(config):
        problem = code_reference_problem(reference)
        if problem:
            raise ValueError(f"{where}: {reference!r} {problem}")
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
        if not isinstance(stage, BenchmarkStage):
            continue
        if stage.baseline_calibration is not None and stage.baseline_calibration not in config.datasets:
            raise ValueError(
                f"stages[{index}] (benchmark).baseline_calibration: {stage.baseline_calibration!r} is not defined"
            )
        if not stage.baselines:
            continue
        where = f"stages[{index}] (benchmark).baselines"
        source = config.model.kind
        if "pytorch_eager" in stage.baselines and source not in ("recipe", "factory"):
            raise ValueError(f"{where}: pytorch_eager needs a torch model (model.recipe or model.factory)")
        if any(b.startswith("onnxruntime") for b in stage.baselines) and source in ("ir", "tflite"):
            raise ValueError(f"{where}: ONNX Runtime baselines need a torch or ONNX model, not {source}")
        if "litert" in stage.baselines and source != "tflite":
            raise ValueError(f"{where}: litert runs .tflite models; it needs model.tflite")
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
    raw = read_config_file(file, what="pipeline file", hint="pass the path to a .yaml pipeline file")
    return parse_pipeline(raw, source=str(file)), file.resolve().parent


def parse_pipeline(raw: Any, *, source: str = "<config>") -> PipelineConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with name, model and stages")
    return validate_config(PipelineConfig, raw, source=source)


def config_digest(config: PipelineConfig) -> str:
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def json_schema() -> dict[str, Any]:
    return PipelineConfig.model_json_schema()
