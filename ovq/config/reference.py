"""The pipeline file reference (docs/reference/pipeline.md), generated from the schema so it cannot drift."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from ovq.config.schema import (
    AccuracyControlSpec,
    BenchmarkMatrix,
    BenchmarkStage,
    BudgetSpec,
    CompileStage,
    CompressWeightsStage,
    DatasetSpec,
    EscalateStage,
    EvaluateStage,
    ExportStage,
    IgnoredScopeSpec,
    MetricBudget,
    MetricSpec,
    ModelSource,
    OptimizeStage,
    PipelineConfig,
    PrecisionStage,
    QatOptions,
    QatStage,
    QuantizeStage,
)
from ovq.config.stages import LatencySlaSpec, MixedPrecisionSpec, RuntimeSettingSpec

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Pipeline (top level)", PipelineConfig),
    ("model", ModelSource),
    ("datasets.NAME", DatasetSpec),
    ("metrics.NAME", MetricSpec),
    ("budget", BudgetSpec),
    ("budget.metrics.NAME", MetricBudget),
    ("stage: export", ExportStage),
    ("stage: quantize", QuantizeStage),
    ("quantize.ignored_scope", IgnoredScopeSpec),
    ("quantize.accuracy_control", AccuracyControlSpec),
    ("stage: compress_weights", CompressWeightsStage),
    ("stage: qat", QatStage),
    ("stage: escalate", EscalateStage),
    ("stage: optimize", OptimizeStage),
    ("optimize.mixed_precision", MixedPrecisionSpec),
    ("optimize.sla", LatencySlaSpec),
    ("optimize.settings[]", RuntimeSettingSpec),
    ("qat options (qat stage, escalate.qat, optimize.qat)", QatOptions),
    ("stage: precision", PrecisionStage),
    ("stage: compile", CompileStage),
    ("stage: evaluate", EvaluateStage),
    ("stage: benchmark", BenchmarkStage),
    ("benchmark.matrix", BenchmarkMatrix),
]


# Constrained items (`list[Annotated[int, Field(ge=1)]]`) read as `int >= 1`, not as pydantic's FieldInfo repr.
_BOUNDED = re.compile(r"Annotated\[(\w+), FieldInfo\(annotation=\w+, required=True, metadata=\[Ge\(ge=(\d+)\)\]\)\]")
_UNION_OF_TWO = re.compile(r"Union\[([^\[\],]+), (Literal\[[^\]]*\])\]")


def _type_name(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    for noise in (
        "typing.",
        "ovq.config.stages.",
        "ovq.config.benchmark_stage.",
        "ovq.config.schema.",
        "<class '",
        "'>",
    ):
        text = text.replace(noise, "")
    text = _UNION_OF_TWO.sub(r"\1 | \2", _BOUNDED.sub(r"\1 >= \2", text))
    return text.replace("NoneType", "None").replace("|", "\\|")


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return f"`{field.default_factory()!r}`"
    return f"`{field.default!r}`"


def render_reference() -> str:
    lines = [
        "# Pipeline file reference",
        "",
        "Generated from the schema by `ovq pipeline schema --markdown`; a test keeps this page in step with",
        "the code. Unknown keys are errors. Relative paths resolve against the pipeline file's folder.",
        "",
    ]
    for title, model in SECTIONS:
        lines += [f"## {title}", ""]
        if model.__doc__:
            lines += [" ".join(model.__doc__.split()), ""]
        lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            if name == "stages":
                lines.append(f"| `stages` | list of stages (below) | **required** | {field.description} |")
                continue
            meaning = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
