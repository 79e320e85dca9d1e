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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ovq.compression.budget import DROP_TOLERANCE, DropType, metric_drop
from ovq.compression.qat.functions import (
    MessageHook,
    ensure_nncf_extension,
    export_qat,
    load_qat_checkpoint,
    prepare_qat,
    save_qat_checkpoint,
)
from ovq.errors import AccuracyBudgetError, ConfigError, StageError

if TYPE_CHECKING:
    import openvino as ov
    import torch
    from nncf import IgnoredScope

    TrainFn = Callable[[torch.nn.Module], torch.nn.Module]

MetricFn = Callable[[Sequence[Any], Sequence[Any]], float]
LossSpec = str | Callable[[Any, Any], Any]


@dataclass(frozen=True)
class QatProgress:
    """One progress event: phase 'prepare' (once), 'train' (every step) or 'evaluate' (every epoch).

    epoch 0 is the calibrated model before any training. steps_per_epoch is None with a train_fn.
    """

    phase: Literal["prepare", "train", "evaluate"]
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int | None
    loss: float | None
    metric: float | None


@dataclass(frozen=True)
class QatEpoch:
    """One row of the history. metric is measured in OpenVINO (None when evaluate_with='torch' skipped it)."""

    epoch: int
    steps: int
    loss: float | None
    metric: float | None
    torch_metric: float | None
    drop: float | None
    budget_held: bool
    train_s: float
    evaluate_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QatResult:
    """What train_qat produced. On success, `model` is the exported INT8 IR of the best (= stopping) epoch."""

    module: torch.nn.Module
    model: ov.Model | None
    metric: str
    reference: float
    value: float
    drop: float
    max_drop: float
    relative_drop: bool
    higher_is_better: bool
    budget_held: bool
    best_epoch: int
    epochs_run: int
    steps: int
    stop_reason: str
    evaluated_with: str
    compile_config: dict[str, Any]
    prepare_s: float
    extension_build_s: float
    duration_s: float
    history: list[QatEpoch] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Numbers and strings only: what a stage record or report.json holds."""
        return {
            "metric": self.metric,
            "reference": self.reference,
            "value": self.value,
            "drop": self.drop,
            "max_drop": self.max_drop,
            "relative_drop": self.relative_drop,
            "higher_is_better": self.higher_is_better,
            "budget_held": self.budget_held,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "steps": self.steps,
            "stop_reason": self.stop_reason,
            "evaluated_with": self.evaluated_with,
            "compile_config": {key: str(value) for key, value in self.compile_config.items()},
            "prepare_s": round(self.prepare_s, 3),
            "extension_build_s": round(self.extension_build_s, 3),
            "duration_s": round(self.duration_s, 3),
            "history": [row.to_dict() for row in self.history],
        }


class QatBudgetError(AccuracyBudgetError):
    """The budget did not hold when the training allowance was spent; carries the history and best result.

    `details` (what the pipeline writes into the report) is the result's to_dict(): per-epoch history,
    best epoch, reference and drop.
    """

    def __init__(self, message: str, *, result: QatResult, hint: str | None = None, stage: str | None = None):
        super().__init__(message, hint=hint, stage=stage)
        self.result = result
        self.history = result.history
        self.details = result.to_dict()


@dataclass(frozen=True)
class _Budget:
    name: str
    fn: MetricFn
    higher_is_better: bool
    reference: float
    max_drop: float
    relative: bool

    def drop(self, value: float) -> float:
        drop_type: DropType = "relative" if self.relative else "absolute"
        return metric_drop(self.reference, value, higher_is_better=self.higher_is_better, drop_type=drop_type)

    def holds(self, value: float) -> bool:
        # 0.1 - 0.09 must count as a drop of 0.01, not 0.010000000000000009.
        return self.drop(value) <= self.max_drop + DROP_TOLERANCE

    def better(self, value: float, than: float | None) -> bool:
        return than is None or (value > than if self.higher_is_better else value < than)


def _resolve_metric(metric: str | MetricFn, higher_is_better: bool | None) -> tuple[str, MetricFn, bool]:
    if isinstance(metric, str):
        from ovq.inputs.metrics import BUILTIN_METRICS

        builtin = BUILTIN_METRICS.get(metric)
        if builtin is None:
            raise ConfigError(f"unknown metric {metric!r}", hint=f"built-in: {', '.join(BUILTIN_METRICS)}")
        return metric, builtin.fn, builtin.higher_is_better if higher_is_better is None else higher_is_better
    return (
        getattr(metric, "__name__", "metric"),
        metric,
        True if higher_is_better is None else higher_is_better,
    )


class _Evaluator:
    """Scores a module on the validation items, in OpenVINO (export + compile) or in torch."""

    def __init__(
        self, items: Sequence[Any], example_input: Any, compile_config: Mapping[str, Any], batch_size: int
    ) -> None:
        import openvino as ov

        self.items = items
        self.targets = [item[1] if isinstance(item, tuple) else None for item in items]
        if any(target is None for target in self.targets):
            raise ConfigError("the validation items have no targets", hint="validation items are (inputs, target)")
        self.example_input = example_input
        self.compile_config = dict(compile_config)
        self.batch_size = batch_size
        self.core = ov.Core()

    def in_openvino(self, module: torch.nn.Module, fn: MetricFn) -> tuple[float, ov.Model]:
        model = export_qat(module, self.example_input)
        return self.score_model(model, fn, self.compile_config), model

    def score_model(self, model: ov.Model, fn: MetricFn, config: Mapping[str, Any]) -> float:
        from ovq.runtime.compile import compile_for
        from ovq.runtime.infer import infer_outputs

        compiled = compile_for(model, config, core=self.core)
        return float(fn(infer_outputs(compiled, self.items), self.targets))

    def in_torch(self, module: torch.nn.Module, fn: MetricFn) -> float:
        from ovq.compression.qat.torch_glue import torch_outputs

        return float(fn(torch_outputs(module, self.items, self.batch_size), self.targets))

    def reference(self, module: torch.nn.Module, fn: MetricFn) -> float:
        """The FP32 module's metric in OpenVINO at true f32 (this CPU's default would be bf16)."""
        from ovq.runtime.convert import export_model

        model = export_model(module, example_input=self.example_input)
        return self.score_model(model, fn, {**self.compile_config, "INFERENCE_PRECISION_HINT": "f32"})


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
    name, fn, higher = _resolve_metric(metric, higher_is_better)
    example = example_input if example_input is not None else _first_inputs(validation_data)
    evaluator = _Evaluator(validation_data, example, compile_config or {}, batch_size)
    if reference is None:
        reference = evaluator.reference(module, fn)
    if relative_drop and reference == 0:
        raise ConfigError("a relative drop needs a non-zero reference metric")
    budget = _Budget(name, fn, higher, float(reference), max_drop, relative_drop)

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
        )
    prepare_s = time.perf_counter() - prepare_started
    if freeze:
        from ovq.compression.qat.torch_glue import freeze_parameters

        frozen, total = freeze_parameters(qat_module, freeze)
        if notify is not None:
            notify(f"QAT: {frozen} of {total} parameter tensors frozen ({', '.join(freeze)})")

    run = _Run(budget, evaluator, evaluate_with, history, folder)
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
        step_fn = _Stepper(qat_module, train_data, optimizer, learning_rate, weight_decay, loss, batch_size, seed)
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


class _Stepper:
    """The built-in training loop: shuffled batches, one optimizer step each, seeded per epoch."""

    def __init__(
        self,
        module: torch.nn.Module,
        items: Sequence[Any],
        optimizer: str,
        learning_rate: float,
        weight_decay: float,
        loss: LossSpec,
        batch_size: int,
        seed: int,
    ) -> None:
        from ovq.compression.qat.torch_glue import make_optimizer, resolve_loss

        self.module = module
        self.items = items
        self.optimizer = make_optimizer(
            optimizer, module.parameters(), learning_rate=learning_rate, weight_decay=weight_decay
        )
        self.loss_fn = resolve_loss(loss)
        self.batch_size = batch_size
        self.seed = seed

    def epoch(
        self, epoch: int, max_steps: int | None, on_step: Callable[[int, float], None]
    ) -> tuple[float | None, int]:
        import torch

        from ovq.compression.qat.torch_glue import batches, call_module, first_output

        # Seeded by epoch, so a resumed run shuffles exactly as an uninterrupted one would.
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        self.module.train()
        losses: list[float] = []
        for inputs, targets in batches(self.items, self.batch_size, generator=generator):
            if max_steps is not None and len(losses) >= max_steps:
                break
            if targets is None:
                raise ConfigError("the training items have no targets", hint="training items are (inputs, target)")
            value = self.loss_fn(first_output(call_module(self.module, inputs)), targets)
            self.optimizer.zero_grad()
            value.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            losses.append(float(value.detach()))
            on_step(len(losses), losses[-1])
        return (sum(losses) / len(losses) if losses else None), len(losses)


class _Run:
    """Book-keeping of one train_qat run: history, best epoch, checkpoints, the final verdict."""

    def __init__(
        self,
        budget: _Budget,
        evaluator: _Evaluator,
        evaluate_with: str,
        history: list[QatEpoch],
        folder: Path | None,
    ) -> None:
        self.budget = budget
        self.evaluator = evaluator
        self.evaluate_with = evaluate_with
        self.history = history
        self.folder = folder
        self.held = False
        self.stop_reason = "training allowance spent"
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.best_state: dict[str, Any] | None = None
        self.best_model: ov.Model | None = None
        self.improved = False

    def evaluate(
        self,
        module: torch.nn.Module,
        epoch: int,
        steps: int,
        loss: float | None,
        train_s: float,
        *,
        final: bool,
        emit: Callable[..., None],
    ) -> None:
        started = time.perf_counter()
        torch_metric = ov_metric = None
        model = None
        if self.evaluate_with == "torch":
            torch_metric = self.evaluator.in_torch(module, self.budget.fn)
            if self.budget.holds(torch_metric) or final:
                ov_metric, model = self.evaluator.in_openvino(module, self.budget.fn)
        else:
            ov_metric, model = self.evaluator.in_openvino(module, self.budget.fn)
        score = ov_metric if ov_metric is not None else torch_metric
        assert score is not None
        held = ov_metric is not None and self.budget.holds(ov_metric)
        row = QatEpoch(
            epoch=epoch,
            steps=steps,
            loss=loss,
            metric=ov_metric,
            torch_metric=torch_metric,
            drop=self.budget.drop(ov_metric) if ov_metric is not None else None,
            budget_held=held,
            train_s=round(train_s, 4),
            evaluate_s=round(time.perf_counter() - started, 4),
        )
        self.history.append(row)
        self.improved = held or self.budget.better(score, self.best_score)
        if self.improved:
            self.best_epoch, self.best_score = epoch, score
            self.best_state = copy.deepcopy(module.state_dict())
            self.best_model = model
        self.held = held
        emit("evaluate", epoch, 0, loss=loss, metric=score)

    def save(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
        assert self.folder is not None
        extra = {"history": [row.to_dict() for row in self.history], "best_epoch": self.best_epoch}
        save_qat_checkpoint(module, self.folder / "last.pt", optimizer=optimizer, extra=extra)
        if self.improved:
            save_qat_checkpoint(module, self.folder / "best.pt", extra=extra)

    def restore_best(self, fp32_module: torch.nn.Module) -> None:
        """On resume: the best epoch so far comes back from best.pt, so it can still win."""
        assert self.folder is not None
        best_path = self.folder / "best.pt"
        if not best_path.is_file():
            return
        best = load_qat_checkpoint(best_path, lambda: copy.deepcopy(fp32_module))
        self.best_epoch = best.extra.get("best_epoch")
        row = next((r for r in self.history if r.epoch == self.best_epoch), None)
        if row is not None:
            self.best_score = row.metric if row.metric is not None else row.torch_metric
            self.best_state = best.module.state_dict()

    def finish(
        self,
        module: torch.nn.Module,
        started: float,
        prepare_s: float,
        extension_build_s: float,
    ) -> QatResult:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
        best_row = next(r for r in self.history if r.epoch == self.best_epoch)
        value = best_row.metric
        model = self.best_model
        if value is None or (model is None and self.held):
            # evaluate_with="torch" never measured the best epoch in OpenVINO: the verdict needs it.
            value, model = self.evaluator.in_openvino(module, self.budget.fn)
        result = QatResult(
            module=module,
            model=model if self.held else None,
            metric=self.budget.name,
            reference=self.budget.reference,
            value=value,
            drop=self.budget.drop(value),
            max_drop=self.budget.max_drop,
            relative_drop=self.budget.relative,
            higher_is_better=self.budget.higher_is_better,
            budget_held=self.held,
            best_epoch=best_row.epoch,
            epochs_run=self.history[-1].epoch,
            steps=self.history[-1].steps,
            stop_reason=self.stop_reason,
            evaluated_with="openvino" if self.evaluate_with == "openvino" else "torch, confirmed in openvino",
            compile_config=self.evaluator.compile_config,
            prepare_s=prepare_s,
            extension_build_s=extension_build_s,
            duration_s=time.perf_counter() - started,
            history=list(self.history),
        )
        if not self.held:
            kind = "relative drop" if self.budget.relative else "drop"
            raise QatBudgetError(
                f"QAT did not meet the budget: best {self.budget.name} {value:.4f} at epoch {best_row.epoch}"
                f" ({kind} {result.drop:.4f} > {self.budget.max_drop}) after {result.epochs_run} epoch(s),"
                f" {result.steps} step(s); reference {self.budget.reference:.4f}",
                result=result,
                hint="train longer (epochs, max_steps), adjust the learning rate, or loosen the budget",
            )
        return result
