"""train_qat: accuracy-aware quantization-aware training, the engine of the pipeline's `qat` stage.

It prepares the model (ovq.prepare_qat), measures where calibration alone leaves it, then fine-tunes
epoch by epoch and stops as soon as the accuracy budget holds. Each measurement is made on the exported
OpenVINO model compiled with the deployment's settings (not on the torch fake-quantized model): the claim
that matters is what the IR does on the CPU, and the two can differ (the plugin runs the non-quantized
parts in bf16 by default here, rounds differently, and fuses). Exporting and compiling a small model takes
about a second; for a large one, evaluate_with="torch" measures the torch model each epoch and confirms
in OpenVINO only when the torch metric says the budget holds, and at the end.

If the allowance (epochs, max_steps) is spent without meeting the budget, QatBudgetError (exit code 4)
is raised with the per-epoch history; nothing is returned as deliverable (fail closed).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ovq.compression.qat.functions import (
    MessageHook,
    ensure_nncf_extension,
    load_qat_checkpoint,
    prepare_qat,
)
from ovq.compression.qat.loop import (
    LossSpec,
    MetricFn,
    QatBudget,
    QatEvaluator,
    QatRun,
    QatStepper,
    resolve_metric,
)
from ovq.compression.qat.results import QatBudgetError, QatEpoch, QatProgress, QatResult
from ovq.errors import ConfigError, StageError

if TYPE_CHECKING:
    import torch
    from nncf import IgnoredScope

    from ovq.compression.overflow import OverflowFixMode

    TrainFn = Callable[[torch.nn.Module], torch.nn.Module]

# Re-exported: the public names of train_qat's results live beside it.
__all__ = ["LossSpec", "MetricFn", "QatBudgetError", "QatEpoch", "QatProgress", "QatResult", "train_qat"]


def train_qat(
    module: torch.nn.Module,
    *,
    train_data: Sequence[Any],
    validation_data: Sequence[Any],
    calibration_data: Sequence[Any],
    max_drop: float,
    reference: float | None = None,
    metric: str | MetricFn = "top1",
    higher_is_better: bool | None = None,
    relative_drop: bool = False,
    example_input: Any = None,
    epochs: int = 3,
    max_steps: int | None = None,
    batch_size: int = 32,
    optimizer: str = "adam",
    learning_rate: float = 1e-4,
    weight_decay: float = 0.0,
    loss: LossSpec = "cross_entropy",
    train_fn: TrainFn | None = None,
    evaluate_with: Literal["openvino", "torch"] = "openvino",
    compile_config: Mapping[str, Any] | None = None,
    subset_size: int = 300,
    preset: Literal["performance", "mixed"] | None = None,
    ignored_scope: IgnoredScope | Mapping[str, list[str]] | None = None,
    model_type: Literal["transformer"] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    torch_threads: int | None = None,
    teacher: Literal["fp32"] | None = None,
    freeze: Sequence[str] = (),
    progress: Callable[[QatProgress], None] | None = None,
    notify: MessageHook | None = None,
    overflow_fix: OverflowFixMode | None = None,
) -> QatResult:
    """Quantize `module` (FP32) for INT8, then fine-tune until the accuracy budget holds in OpenVINO.

    Data are lists of ovq dataset items ((inputs, target), batch dimension included). The budget is
    `metric` (built-in name or fn(outputs, targets)) on validation_data, allowed to drop by at most
    max_drop (absolute, or a fraction of the reference with relative_drop) below `reference` (default:
    the FP32 module measured in OpenVINO at true f32). Training runs up to `epochs` epochs and
    `max_steps` optimizer steps with the named optimizer and loss, or calls train_fn(model) -> model once
    per epoch instead. compile_config is the CPU plugin configuration the model will be deployed with;
    every measurement uses it. torch_threads sets torch's intra-op threads while training (None keeps
    the current setting; 1 is fastest for small models, especially on a busy machine). With
    checkpoint_dir, last.pt and best.pt are written after every epoch, and resume=True continues from
    last.pt.

    teacher="fp32" trains without labels (distillation): the targets of the training items become the
    FP32 module's own outputs, and those of the validation items the FP32 model's outputs in OpenVINO at
    true f32 (what metrics measured against the reference expect, e.g. nearest-neighbour agreement of
    sentence embeddings). Use it with loss "distill_cosine" or "distill_mse" (the default loss becomes
    distill_cosine). freeze: regular expressions over parameter names kept fixed (e.g. "embeddings\\.").

    Raises QatBudgetError (an AccuracyBudgetError, exit code 4) when the allowance is spent first.

    >>> result = train_qat(model, train_data=train, validation_data=val, calibration_data=cal, max_drop=0.01)
    >>> ov.save_model(result.model, "int8.xml", compress_to_fp16=False)
    """
    import torch

    from ovq.compression.qat.torch_glue import OPTIMIZERS, quantizer_count, resolve_loss

    started = time.perf_counter()
    if teacher is not None:
        from ovq.compression.qat.distill import with_teacher

        train_data, validation_data, loss = with_teacher(
            module, teacher, train_data, validation_data, loss, batch_size, example_input, compile_config
        )
    if epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {epochs}")
    if train_fn is not None and max_steps is not None:
        raise ConfigError("max_steps cannot limit a train_fn", hint="the train_fn decides its own steps; use epochs")
    if quantizer_count(module):
        raise ConfigError("train_qat takes the FP32 module", hint="pass the module before prepare_qat")
    if not validation_data or (train_fn is None and not train_data):
        raise ConfigError("train_qat needs training data (or a train_fn) and validation data")
    if train_fn is None:
        # Checked before the (slow) preparation, not after it.
        resolve_loss(loss)
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {optimizer!r}", hint=f"use one of {', '.join(OPTIMIZERS)}")
    name, fn, higher = resolve_metric(metric, higher_is_better)
    example = example_input if example_input is not None else _first_inputs(validation_data)
    evaluator = QatEvaluator(validation_data, example, compile_config or {}, batch_size)
    if reference is None:
        reference = evaluator.reference(module, fn)
    if relative_drop and reference == 0:
        raise ConfigError("a relative drop needs a non-zero reference metric")
    budget = QatBudget(name, fn, higher, float(reference), max_drop, relative_drop)

    def emit(phase: Literal["prepare", "train", "evaluate"], epoch: int, step: int, **values: Any) -> None:
        if progress is not None:
            steps_per_epoch = None if train_fn else -(-len(train_data) // batch_size)
            progress(QatProgress(phase, epoch, epochs, step, steps_per_epoch, values.get("loss"), values.get("metric")))

    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    extension_build_s = ensure_nncf_extension(notify)
    emit("prepare", 0, 0)
    prepare_started = time.perf_counter()
    history: list[QatEpoch] = []
    optimizer_state: dict[str, Any] | None = None
    if resume and folder is not None and (folder / "last.pt").is_file():
        checkpoint = load_qat_checkpoint(folder / "last.pt", lambda: copy.deepcopy(module))
        qat_module, optimizer_state = checkpoint.module, checkpoint.optimizer_state
        history = [QatEpoch(**row) for row in checkpoint.extra.get("history", [])]
    else:
        qat_module = prepare_qat(
            module,
            calibration_data,
            subset_size=subset_size,
            preset=preset,
            ignored_scope=ignored_scope,
            model_type=model_type,
            notify=notify,
            overflow_fix=overflow_fix,
        )
    prepare_s = time.perf_counter() - prepare_started
    if freeze:
        from ovq.compression.qat.torch_glue import freeze_parameters

        frozen, total = freeze_parameters(qat_module, freeze)
        if notify is not None:
            notify(f"QAT: {frozen} of {total} parameter tensors frozen ({', '.join(freeze)})")

    run = QatRun(budget, evaluator, evaluate_with, history, folder)
    if not history:
        run.evaluate(qat_module, 0, 0, None, 0.0, final=False, emit=emit)
        if run.held:
            run.stop_reason = "the calibrated model meets the budget: no training needed"
    else:
        run.restore_best(module)
        # A run that stopped because the budget held has nothing left to train.
        run.held = history[-1].budget_held
        if run.held:
            run.stop_reason = f"budget held after epoch {history[-1].epoch} (resumed)"

    step_fn = None
    if train_fn is None:
        step_fn = QatStepper(qat_module, train_data, optimizer, learning_rate, weight_decay, loss, batch_size, seed)
        if optimizer_state is not None:
            step_fn.optimizer.load_state_dict(optimizer_state)
    total_steps = history[-1].steps if history else 0
    first_epoch = history[-1].epoch + 1 if history else 1
    threads = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for epoch in range(first_epoch, epochs + 1):
                if run.held:
                    break
                epoch_started = time.perf_counter()
                if step_fn is None:
                    assert train_fn is not None
                    qat_module, mean_loss = _call_train_fn(train_fn, qat_module), None
                else:

                    def on_step(step: int, value: float, epoch: int = epoch) -> None:
                        emit("train", epoch, step, loss=value)

                    budget_left = None if max_steps is None else max_steps - total_steps
                    mean_loss, done = step_fn.epoch(epoch, budget_left, on_step)
                    total_steps += done
                allowance_spent = epoch == epochs or (max_steps is not None and total_steps >= max_steps)
                train_s = time.perf_counter() - epoch_started
                run.evaluate(qat_module, epoch, total_steps, mean_loss, train_s, final=allowance_spent, emit=emit)
                if folder is not None:
                    run.save(qat_module, step_fn.optimizer if step_fn else None)
                if run.held:
                    run.stop_reason = f"budget held after epoch {epoch}"
                elif allowance_spent:
                    break
    finally:
        torch.set_num_threads(threads)
    return run.finish(qat_module, started, prepare_s, extension_build_s)


def _call_train_fn(train_fn: TrainFn, module: torch.nn.Module) -> torch.nn.Module:
    import torch

    from ovq.compression.qat.torch_glue import quantizer_count

    trained = train_fn(module)
    if not isinstance(trained, torch.nn.Module) or not quantizer_count(trained):
        raise StageError("train_fn must return the module it was given, with its NNCF quantizers")
    return trained


def _first_inputs(items: Sequence[Any]) -> Any:
    from ovq.compression.qat.torch_glue import model_inputs

    return model_inputs(items[0])
