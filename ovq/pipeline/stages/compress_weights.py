"""Pipeline adapter for the compress_weights stage (engine: ovq.compression.weights)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovq.compression.weights import compress_weights, dynamic_quantization_properties, weight_precision

if TYPE_CHECKING:
    from ovq.config.schema import CompressWeightsStage
    from ovq.pipeline.context import RunContext


def run_stage(ctx: RunContext, stage: CompressWeightsStage, index: int, label: str) -> dict[str, Any]:
    from ovq.compression.ptq import make_ignored_scope
    from ovq.runtime.convert import read_model_file

    source = ctx.variants[stage.source]
    model = read_model_file(source.model_path)
    items = ctx.dataset(stage.dataset, model=model) if stage.dataset else None
    scope = stage.ignored_scope
    with ctx.reporter.progress(f"compressing weights of {stage.name} ({stage.mode})", None):
        compressed = compress_weights(
            model,
            mode=stage.mode,
            group_size=stage.group_size,
            ratio=stage.ratio,
            dataset=items,
            subset_size=stage.subset_size,
            awq=stage.awq,
            scale_estimation=stage.scale_estimation,
            gptq=stage.gptq,
            lora_correction=stage.lora_correction,
            sensitivity_metric=stage.sensitivity_metric,
            backup_mode=stage.backup_mode,
            all_layers=stage.all_layers,
            ignored_scope=make_ignored_scope(scope.names, scope.patterns, scope.types) if scope else None,
        )
    precision = weight_precision(compressed) or "int8_weights"
    variant = ctx.add_variant(compressed, index, label, name=stage.name, precision=precision, source=stage.source)
    properties = dynamic_quantization_properties(stage.dynamic_quantization_group_size)
    if properties:
        variant.compile_overrides = {"properties": properties}
    return {"variant": stage.name, "mode": stage.mode, "precision": precision, "compile_properties": properties}
