"""What train_qat reports: progress events, one row per epoch, the result, and the fail-closed error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ovq.errors import AccuracyBudgetError

if TYPE_CHECKING:
    import openvino as ov
    import torch


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
