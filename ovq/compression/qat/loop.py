"""The parts of train_qat's loop: the budget, the evaluator (OpenVINO or torch), the training steps and
the book-keeping of one run (history, best epoch, checkpoints, the verdict)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.compression.budget import DROP_TOLERANCE, DropType, metric_drop
from ovq.compression.qat.functions import export_qat, load_qat_checkpoint, save_qat_checkpoint
from ovq.compression.qat.results import QatBudgetError, QatEpoch, QatResult
from ovq.errors import ConfigError

if TYPE_CHECKING:
    import openvino as ov
    import torch

MetricFn = Callable[[Sequence[Any], Sequence[Any]], float]
LossSpec = str | Callable[[Any, Any], Any]


@dataclass(frozen=True)
class QatBudget:
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


def resolve_metric(metric: str | MetricFn, higher_is_better: bool | None) -> tuple[str, MetricFn, bool]:
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


class QatEvaluator:
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


class QatStepper:
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


class QatRun:
    """Book-keeping of one train_qat run: history, best epoch, checkpoints, the final verdict."""

    def __init__(
        self,
        budget: QatBudget,
        evaluator: QatEvaluator,
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
        best_path = self.folder / "best.pt"
        if self.improved:
            save_qat_checkpoint(module, best_path, extra=extra)
        elif self.best_state is not None and not best_path.is_file():
            # The best so far is an earlier evaluation that had no checkpoint yet (the one before training):
            # best.pt holds that state, so a resumed run can still deliver it.
            best = copy.deepcopy(module)
            best.load_state_dict(self.best_state)
            save_qat_checkpoint(best, best_path, extra=extra)

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
