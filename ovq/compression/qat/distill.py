"""Teacher-guided QAT: the FP32 model's outputs are the targets, so a model without labels can be fine-tuned.

A sentence-embedding model has no labels to train against; what its users need is that the INT8 model's
embeddings stay where the FP32 model's are. ``with_teacher`` relabels the training items with the FP32
module's torch outputs and the validation items with the FP32 model's OpenVINO outputs at true f32 (the
reference every budget is measured from), and turns the loss into a distillation loss.
``train_qat(..., teacher="fp32", loss="distill_cosine")`` is the way in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ovq.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from ovq.compression.qat.train import LossSpec


def with_teacher(
    module: torch.nn.Module,
    teacher: str,
    train_data: Sequence[Any],
    validation_data: Sequence[Any],
    loss: LossSpec,
    batch_size: int,
    example_input: Any,
    compile_config: Mapping[str, Any] | None,
) -> tuple[list[Any], list[Any], LossSpec]:
    """Distillation from the FP32 module: its outputs become every item's target (no labels needed)."""
    import openvino as ov

    from ovq.compression.qat.torch_glue import model_inputs, teacher_targets
    from ovq.runtime.convert import export_model
    from ovq.runtime.infer import infer_outputs

    if teacher != "fp32":
        raise ConfigError(f"unknown teacher {teacher!r}", hint="the supported teacher is fp32 (the model itself)")
    if loss in ("cross_entropy", "mse"):
        loss = "distill_cosine" if loss == "cross_entropy" else "distill_mse"
    train_targets = teacher_targets(module, train_data, batch_size)
    # Validation targets come from OpenVINO at true f32: the same reference every budget is measured from.
    example = example_input if example_input is not None else model_inputs(validation_data[0])
    reference = export_model(module, example_input=example)
    config = {**dict(compile_config or {}), "INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(reference, "CPU", config)
    outputs = infer_outputs(compiled, validation_data)
    validation_targets = [(model_inputs(item), output) for item, output in zip(validation_data, outputs, strict=True)]
    return train_targets, validation_targets, loss
