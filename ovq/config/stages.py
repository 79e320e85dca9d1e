"""The stage blocks of a pipeline file: one pydantic model per stage kind, discriminated by `stage:`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field

from ovq.config.base import Strict
from ovq.config.benchmark_stage import BenchmarkStage


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
    loss: str = Field(
        "cross_entropy",
        description="cross_entropy, mse, distill_cosine, distill_mse (with teacher) or 'package.module:function'",
    )
    teacher: Literal["fp32"] | None = Field(
        None,
        description=(
            "fp32: distillation for data without labels, the targets are the FP32 model's outputs"
            " (e.g. sentence embeddings); the default loss becomes distill_cosine"
        ),
    )
    freeze: list[str] = Field(
        default_factory=list, description="regular expressions over parameter names kept fixed (e.g. 'embeddings')"
    )
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
    speed_check_repeats: int = Field(5, ge=1, description="paired repeats of the speed check (a verdict needs 5)")
    accuracy_control: AccuracyControlSpec | None = Field(None, description="knobs of the accuracy-aware PTQ rung")
    qat: QatOptions | None = Field(None, description="the QAT rung (needed when rungs include qat)")


class RuntimeSettingSpec(Strict):
    """One runtime setting the optimize stage measures."""

    hint: Literal["latency", "throughput", "cumulative_throughput"] = "throughput"
    num_streams: int | None = Field(None, ge=1)
    num_requests: int | None = Field(None, ge=1)
    num_threads: int | None = Field(None, ge=1)
    batch_size: int = Field(1, ge=1)


class LatencySlaSpec(Strict):
    """A latency promise per request, e.g. p99 <= 15 ms."""

    max_ms: float = Field(gt=0, description="the latency limit in milliseconds")
    percentile: int = Field(99, ge=1, le=100, description="which latency percentile must stay under it")


class MixedPrecisionSpec(Strict):
    """Knobs of speed-aware mixed precision."""

    ranking_subset_size: int = Field(64, ge=1, description="items used to measure each operation's error")
    max_validations: int = Field(10, ge=1, description="validated points of the revert search at most")
    min_saving_us: float = Field(0.0, ge=0, description="keep INT8 only where it saves more than this per inference")


Candidate = Literal["default", "int8", "weights_int8", "mixed_precision", "qat", "nncf_accuracy_control"]
ALL_CANDIDATES: tuple[Candidate, ...] = ("default", "int8", "weights_int8", "mixed_precision", "qat")


class OptimizeStage(Strict):
    """Search for the fastest variant and runtime setting that hold the budget (and an optional latency SLA)."""

    stage: Literal["optimize"]
    name: str = Field("optimized", description="name of the variant this stage produces")
    source: str = Field("fp32", description="the FP32 variant to start from")
    dataset: str = Field(description="calibration dataset (from datasets:)")
    candidates: list[Candidate] = Field(
        default_factory=lambda: list(ALL_CANDIDATES),
        min_length=1,
        description=(
            "what to try, cheapest first; qat runs only when qat: options are given; add"
            " nncf_accuracy_control to compare with NNCF's own accuracy control on the same data"
        ),
    )
    subset_size: int = Field(300, ge=1, description="calibration samples for PTQ")
    preset: Literal["performance", "mixed"] | None = None
    model_type: Literal["transformer"] | None = None
    reserve: float = Field(
        0.0, ge=0, lt=1, description="share of each budget's allowed drop kept back (0.25: a safety margin)"
    )
    sla: LatencySlaSpec | None = Field(None, description="latency limit every chosen setting must hold")
    settings: list[RuntimeSettingSpec] | None = Field(
        None, description="runtime settings to measure (default: throughput, latency, throughput with 1 stream)"
    )
    finalists: int = Field(2, ge=1, description="budget-holding variants measured under every setting")
    duration_s: float = Field(1.0, gt=0, description="seconds per speed measurement")
    repeats: int = Field(3, ge=1, description="interleaved repeats of the settings measurement")
    mixed_precision: MixedPrecisionSpec | None = None
    qat: QatOptions | None = Field(None, description="teacher-guided QAT options; QAT is tried only when given")


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


TargetName = Literal["native", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "amx"]


def _native_only() -> list[TargetName]:
    return ["native"]


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
    default_candidate: bool = Field(
        True,
        description=(
            "when the CPU's default inference precision is not f32 (bf16 on AMX/AVX512-BF16 CPUs), also compile,"
            " measure and consider the uncompressed model at that default (variant fp32-default), unless a"
            " precision stage already declares it; false: only the variants the pipeline declares"
        ),
    )
    targets: list[TargetName] = Field(
        default_factory=_native_only,
        min_length=1,
        description=(
            "the CPU classes the run answers for: native (this machine as it is) and/or avx2, avx2_vnni,"
            " avx512_core, avx512_core_vnni, avx512_core_bf16, amx. Each class at or below this host is evaluated"
            " and benchmarked in a worker with the ISA capped (proven from the kernels it ran) and gets its own"
            " deliverable; a class above the host is reported as not measurable here"
        ),
    )


class EvaluateStage(Strict):
    stage: Literal["evaluate"]
    dataset: str = Field(description="validation dataset name (from datasets:)")
    metrics: list[str] | None = Field(None, description="metric names (from metrics:); default all")


def check_matrix(stages: Sequence[BaseModel]) -> None:
    """A benchmark matrix's shapes must agree with export.input_shapes (the model's rank is checked at run time)."""
    matrices = [(i, s.matrix) for i, s in enumerate(stages) if isinstance(s, BenchmarkStage) and s.matrix]
    if len(matrices) > 1:
        raise ValueError(f"stages[{matrices[1][0]}] (benchmark).matrix: only one benchmark stage may have a matrix")
    export = stages[0]
    if not matrices or not isinstance(export, ExportStage) or export.input_shapes is None:
        return
    index, matrix = matrices[0]
    declared = export.input_shapes
    for number, entry in enumerate(matrix.input_shapes or []):
        where = f"stages[{index}] (benchmark).matrix.input_shapes[{number}]"
        if isinstance(entry, dict) and isinstance(declared, dict):
            pairs = [(name, shape, declared.get(name)) for name, shape in entry.items()]
        elif isinstance(entry, list) and isinstance(declared, list):
            if len(entry) != len(declared):
                raise ValueError(f"{where}: {len(entry)} shape(s), export.input_shapes gives {len(declared)} input(s)")
            pairs = [(f"#{i}", shape, declared[i]) for i, shape in enumerate(entry)]
        else:
            continue  # names vs order: only the model can tell which input is which
        for name, shape, model_shape in pairs:
            if model_shape is not None and len(shape) != len(model_shape):
                raise ValueError(
                    f"{where}: input {name} has rank {len(model_shape)} ({model_shape} in export.input_shapes),"
                    f" got {shape} (rank {len(shape)})"
                )


# The one list of stage kinds: each kind is the `stage:` literal of its config model below. The CLI's
# messages, the schema walk and the pipeline's adapter registry are all derived from this union.
StageConfig = Annotated[
    ExportStage
    | QuantizeStage
    | CompressWeightsStage
    | QatStage
    | EscalateStage
    | OptimizeStage
    | PrecisionStage
    | CompileStage
    | EvaluateStage
    | BenchmarkStage,
    Field(discriminator="stage"),
]
# Stages that make a new variant from an earlier one; they all come before compile.
VariantStage = QuantizeStage | CompressWeightsStage | QatStage | EscalateStage | OptimizeStage | PrecisionStage


def stage_kind(model: type[BaseModel]) -> str:
    """The `stage:` value a stage config model is discriminated by (its Literal's one value)."""
    (kind,) = get_args(model.model_fields["stage"].annotation)
    return str(kind)


_UNION: object = get_args(StageConfig)[0]
# kind -> config model, in the order the union lists them (the order `ovq pipeline schema` shows).
STAGE_MODELS: dict[str, type[Strict]] = {stage_kind(model): model for model in get_args(_UNION)}
STAGE_KINDS: tuple[str, ...] = tuple(STAGE_MODELS)
