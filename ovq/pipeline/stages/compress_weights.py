"""Pipeline adapter for the compress_weights stage (engine: ovq.compression.weights)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.compression.weights import compress_weights, dynamic_quantization_properties, weight_precision
from ovq.config.stages import CompressWeightsStage
from ovq.pipeline.stages.base import StageAdapter, StageResult

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext


class CompressWeights(StageAdapter[CompressWeightsStage]):
    config_model = CompressWeightsStage

    def run(self, ctx: RunContext, config: CompressWeightsStage) -> StageResult:
        from ovq.compression.ptq import make_ignored_scope
        from ovq.runtime.convert import read_model_file

        source = ctx.variants[config.source]
        model = read_model_file(source.model_path)
        items = ctx.dataset(config.dataset, model=model) if config.dataset else None
        scope = config.ignored_scope
        with ctx.reporter.progress(f"compressing weights of {config.name} ({config.mode})", None):
            compressed = compress_weights(
                model,
                mode=config.mode,
                group_size=config.group_size,
                ratio=config.ratio,
                dataset=items,
                subset_size=config.subset_size,
                awq=config.awq,
                scale_estimation=config.scale_estimation,
                gptq=config.gptq,
                lora_correction=config.lora_correction,
                sensitivity_metric=config.sensitivity_metric,
                backup_mode=config.backup_mode,
                all_layers=config.all_layers,
                ignored_scope=make_ignored_scope(scope.names, scope.patterns, scope.types) if scope else None,
            )
        precision = weight_precision(compressed) or "int8_weights"
        variant = ctx.add_variant(compressed, name=config.name, precision=precision, source=config.source)
        properties = dynamic_quantization_properties(config.dynamic_quantization_group_size)
        if properties:
            variant.compile_overrides = {"properties": properties}
        details = {
            "variant": config.name,
            "mode": config.mode,
            "precision": precision,
            "compile_properties": properties,
        }
        return StageResult(details=details, variants_added=[config.name])
