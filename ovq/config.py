"""The pipeline file format: pydantic models with extra="forbid", checked before any model loads.

A typo is an error that names the field path and what is allowed, never a silently ignored key. Cross
checks (dataset and metric names exist, stage order makes sense) run at load time too.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ovq.errors import ConfigError, InputFileError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


# ---------------------------------------------------------------------------------------------- stages


class IgnoredScopeSpec(Strict):
    """Operations NNCF must not compress; an entry that matches nothing is an error."""

    names: list[str] = Field(default_factory=list, description="exact operation names")
    patterns: list[str] = Field(default_factory=list, description="regular expressions over operation names")
    types: list[str] = Field(default_factory=list, description="operation types, e.g. MatMul")


class ExportStage(Strict):
    stage: Literal["export"]
    name: str = Field("fp32", description="name of the variant this stage produces")
    input_shapes: dict[str, list[int]] | list[list[int]] | None = Field(
        None, description="static input shapes, by input name or in input order; -1 marks a dynamic dimension"
    )
    dynamic_shapes: Literal["reshape", "keep"] = Field(
        "reshape",
        description=(
            "reshape: make dynamic dimensions static (from input_shapes or the first calibration/validation"
            " item) so INT8 kernels compile; keep: leave them dynamic"
        ),
    )


class AccuracyControlSpec(Strict):
    """NNCF accuracy control: quantize, then revert the most harmful operations to float until the budget holds."""

    enabled: bool = Field(True, description="false: plain PTQ even though the pipeline has a budget")
    ranking_subset_size: int | None = Field(None, ge=1, description="validation items used to rank operations")
    max_iterations: int | None = Field(None, ge=1, description="revert at most this many groups of operations")
    restore_mode: Literal["activations_and_weights", "only_activations"] = Field(
        "activations_and_weights", description="only_activations keeps int8 weights on reverted operations"
    )
    tune_hyperparams: bool = Field(False, description="let NNCF try other PTQ settings before reverting")
    validate_at: Literal["deployment", "f32"] = Field(
        "deployment", description="rank and validate at the deployment's precision (or NNCF's forced f32)"
    )
    ranking_order: Literal["most_helpful_first", "nncf"] = Field(
        "most_helpful_first", description="revert the operations whose revert helps most first"
    )


class QuantizeStage(Strict):
    stage: Literal["quantize"]
    name: str = Field("int8", description="name of the variant this stage produces")
    source: str = Field("fp32", description="variant to quantize")
    dataset: str = Field(description="calibration dataset name (from datasets:)")
    subset_size: int = Field(300, ge=1, description="calibration samples NNCF uses")
    preset: Literal["performance", "mixed"] | None = Field(
        None, description="NNCF preset: performance (symmetric) or mixed (asymmetric activations)"
    )
    model_type: Literal["transformer"] | None = Field(None, description="transformer: NNCF's transformer scheme")
    fast_bias_correction: bool = Field(True, description="False runs NNCF's slower, fuller bias correction")
    weights_granularity: Literal["per_channel", "per_tensor"] | None = Field(
        None,
        description=(
            "weight scales per output channel (NNCF's default) or one per tensor; activations are per-tensor,"
            " the only granularity NNCF's CPU hardware config allows for them"
        ),
    )
    ignored_scope: IgnoredScopeSpec | None = Field(None, description="operations kept in floating point")
    accuracy_control: AccuracyControlSpec | None = Field(
        None,
        description=(
            "knobs of accuracy-aware quantization, which runs whenever the pipeline declares a budget"
            " (set enabled: false for plain PTQ under a budget)"
        ),
    )


class CompressWeightsStage(Strict):
    """Weight-only compression (NNCF): int8 or int4 weights, activations stay floating point."""

    stage: Literal["compress_weights"]
    name: str = Field("int8_weights", description="name of the variant this stage produces")
    source: str = Field("fp32", description="variant to compress")
    mode: Literal["int8_sym", "int8_asym", "int4_sym", "int4_asym"] = Field("int8_asym")
    group_size: int | None = Field(None, description="int4 only: input channels per group (NNCF default 128)")
    ratio: float | None = Field(None, gt=0, le=1, description="int4 only: share of layers in int4, the rest backup")
    all_layers: bool | None = Field(None, description="also compress embeddings and the last layer to int4")
    backup_mode: Literal["none", "int8_sym", "int8_asym"] | None = Field(None, description="precision of the rest")
    sensitivity_metric: (
        Literal[
            "weight_quantization_error",
            "hessian_input_activation",
            "mean_activation_variance",
            "max_activation_variance",
            "mean_activation_magnitude",
        ]
        | None
    ) = Field(None, description="how the int4 layers are chosen")
    dataset: str | None = Field(None, description="calibration data for the data-aware options")
    subset_size: int = Field(128, ge=1, description="calibration items used")
    awq: bool | None = Field(None, description="int4 + dataset: activation-aware weight quantization")
    scale_estimation: bool | None = Field(None, description="int4 + dataset: scale estimation")
    gptq: bool | None = Field(None, description="int4 + dataset: GPTQ")
    lora_correction: bool | None = Field(None, description="int4 + dataset: LoRA correction")
    ignored_scope: IgnoredScopeSpec | None = Field(None, description="layers left uncompressed")
    dynamic_quantization_group_size: int | Literal["per_token"] | None = Field(
        None, description="the CPU runtime's dynamic quantization of activations (0: off; default: plugin's, 32)"
    )


class QatOptions(Strict):
    """How to fine-tune with quantization simulated (the qat stage's and the escalation's QAT rung)."""

    train_dataset: str = Field(description="training data (from datasets:)")
    calibration_dataset: str = Field(description="data that initialises the quantizers (from datasets:)")
    epochs: int = Field(3, ge=1, description="training allowance in epochs")
    max_steps: int | None = Field(None, ge=1, description="and/or in optimizer steps")
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    loss: str = Field("cross_entropy", description="cross_entropy, mse or 'package.module:function'")
    train_fn: str | None = Field(
        None, description="'package.module:function' that trains the prepared model one epoch and returns it"
    )
    evaluate_with: Literal["openvino", "torch"] = Field(
        "openvino", description="score every epoch in OpenVINO (exact) or in torch (confirmed in OpenVINO)"
    )
    subset_size: int = Field(300, ge=1, description="calibration samples for the initial quantizer ranges")
    preset: Literal["performance", "mixed"] | None = None
    model_type: Literal["transformer"] | None = None
    ignored_scope: IgnoredScopeSpec | None = None
    seed: int = 0
    torch_threads: int | None = Field(None, ge=1, description="torch threads while training (1 suits small models)")


class QatStage(QatOptions):
    """Quantization-aware training: NNCF fake-quantizers on the torch model, fine-tuned until the budget holds.

    Accuracy is measured every epoch on the exported IR compiled the way the pipeline deploys it; training
    stops as soon as the budget's first metric holds, keeps the best epoch, and fails closed (exit 4) when
    the allowance is spent.
    """

    stage: Literal["qat"]
    name: str = Field("qat_int8", description="name of the variant this stage produces")
    source: str = Field("fp32", description="the reference variant (QAT starts again from its torch model)")


Rung = Literal["ptq", "accuracy_aware_ptq", "qat"]
ALL_RUNGS: tuple[Rung, ...] = ("ptq", "accuracy_aware_ptq", "qat")


class EscalateStage(Strict):
    """Meet the budget with the cheapest method: plain PTQ, then accuracy-aware PTQ (if still fast enough), then QAT."""

    stage: Literal["escalate"]
    name: str = Field("int8", description="name of the variant this stage produces")
    source: str = Field("fp32", description="variant to start from")
    dataset: str = Field(description="calibration dataset for PTQ (from datasets:)")
    subset_size: int = Field(300, ge=1)
    preset: Literal["performance", "mixed"] | None = None
    model_type: Literal["transformer"] | None = None
    ignored_scope: IgnoredScopeSpec | None = None
    rungs: list[Rung] = Field(default_factory=lambda: list(ALL_RUNGS), min_length=1, description="tried in this order")
    min_speedup: float = Field(
        1.0, gt=0, description="accuracy-aware PTQ is accepted only if still this much faster than true-f32 FP32"
    )
    speed_check_s: float = Field(2.0, gt=0, description="seconds per repeat of the paired speed check")
    speed_check_repeats: int = Field(3, ge=1)
    accuracy_control: AccuracyControlSpec | None = Field(None, description="knobs of the accuracy-aware PTQ rung")
    qat: QatOptions | None = Field(None, description="the QAT rung (needed when rungs include qat)")


class PrecisionStage(Strict):
    """A floating-point variant: FP16-compressed weights, or the same IR run at another inference precision."""

    stage: Literal["precision"]
    name: str = Field(description="name of the variant this stage produces, e.g. bf16")
    source: str = Field("fp32", description="variant to start from")
    mode: Literal["fp16", "bf16", "default"] = Field(
        description=(
            "fp16: weights stored as f16 (half the size); bf16: same IR, inference precision bf16;"
            " default: same IR at the plugin's default inference precision (bf16 on CPUs that have it)"
        )
    )


class CompileStage(Strict):
    stage: Literal["compile"]
    hint: Literal["latency", "throughput", "cumulative_throughput"] = Field(
        "throughput", description="the plugin's performance hint"
    )
    num_requests: int | None = Field(None, ge=1, description="cap the requests the throughput hint plans for")
    num_streams: int | Literal["auto"] | None = Field(None, description="CPU streams (default: the hint decides)")
    num_threads: int | None = Field(None, ge=1, description="inference threads (default: all cores)")
    inference_precision: Literal["f32", "bf16", "f16"] | None = Field(
        None,
        description=(
            "precision for compressed variants (None: the plugin default). The FP32 baseline is always"
            " compiled as true f32, so speed-ups are measured against an honest reference."
        ),
    )
    cache_dir: str | None = Field(None, description="OpenVINO model cache folder (speeds up later compiles)")


class EvaluateStage(Strict):
    stage: Literal["evaluate"]
    dataset: str = Field(description="validation dataset name (from datasets:)")
    metrics: list[str] | None = Field(None, description="metric names (from metrics:); default all")


class BenchmarkStage(Strict):
    stage: Literal["benchmark"]
    duration_s: float | None = Field(None, gt=0, description="measure for this long (default 10 s)")
    iterations: int | None = Field(None, ge=1, description="or for exactly this many inferences")
    warmup_iterations: int = Field(1, ge=0, description="untimed inferences after the first one")
    num_requests: int | None = Field(None, ge=1, description="default: the compiled model's optimal number")
    repeats: int = Field(1, ge=1, description="repeat the measurement, interleaving variants")
    dataset: str | None = Field(None, description="feed these inputs (default: random inputs of the right shape)")
    api: Literal["async", "sync"] = Field(
        "async", description="async: a queue of requests (benchmark_app's default); sync: one blocking request"
    )
    noisy_threshold: float = Field(0.10, gt=0, description="flag a result noisy when its repeat spread exceeds this")
    baselines: list[Literal["pytorch_eager", "onnxruntime_fp32", "onnxruntime_int8"]] = Field(
        default_factory=list,
        description="also measure what a user would run instead, with the same inputs and report fields",
    )
    baseline_calibration: str | None = Field(
        None, description="calibration dataset for onnxruntime_int8 (default: the first quantize stage's)"
    )

    @model_validator(mode="after")
    def _duration_or_iterations(self) -> BenchmarkStage:
        if self.duration_s is not None and self.iterations is not None:
            raise ValueError("give duration_s or iterations, not both")
        return self


StageConfig = Annotated[
    ExportStage
    | QuantizeStage
    | CompressWeightsStage
    | QatStage
    | EscalateStage
    | PrecisionStage
    | CompileStage
    | EvaluateStage
    | BenchmarkStage,
    Field(discriminator="stage"),
]
# Stages that make a new variant from an earlier one; they all come before compile.
VariantStage = QuantizeStage | CompressWeightsStage | QatStage | EscalateStage | PrecisionStage


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


# Kept here (not imported from ovq.metrics) so that validating a file never imports numpy-heavy modules.
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
        if config.metrics[first_metric].against == "reference":
            raise ValueError(f"{where}: the budget's first metric {first_metric!r} must compare with labels for QAT")
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
