"""What accuracy-aware quantization returns: the result (model and story) and the fail-closed error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ovq.errors import AccuracyBudgetError

if TYPE_CHECKING:
    import openvino as ov

    from ovq.compression._nncf.accuracy_control import RevertStep, ValidationCall
    from ovq.compression.budget import BudgetCheck


@dataclass
class AccuracyControlResult:
    """Everything a report needs about one accuracy-aware quantization, and the model it produced.

    ``model`` is the quantized model, or the FP32 model itself when FP32 at the deployment's precision
    already misses the budget (nothing was quantized then, ``steps`` is empty).
    """

    model: ov.Model
    met: bool
    checks: list[BudgetCheck]
    primary_metric: str
    references: dict[str, float]  # FP32 as true f32: what every drop is measured from
    deployed_values: dict[str, float]
    deployed_properties: dict[str, Any]
    deployed_inference_precision: str
    validation_inference_precision: str  # what NNCF's loop compiled with
    fp32_at_validation_precision: dict[str, float]
    f32_values: dict[str, float] | None  # the final model in f32, measured only when a budget misses
    validation_calls: list[ValidationCall]
    steps: list[RevertStep]
    reverted_operations: list[str]
    quantized_operations_before: int
    quantized_operations_after: int
    knobs: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def plain_ptq_value(self) -> float | None:
        """The primary metric of the fully quantized model before any revert (NNCF's validation)."""
        return next((c.value for c in self.validation_calls if c.phase == "quantized"), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready block for the report (numbers are numbers)."""
        return {
            "met": self.met,
            "primary_metric": self.primary_metric,
            "checks": [check.to_dict() for check in self.checks],
            "references": self.references,
            "deployed": {
                "values": self.deployed_values,
                "inference_precision": self.deployed_inference_precision,
                "values_f32": self.f32_values,
                "properties": {key: _jsonable(value) for key, value in self.deployed_properties.items()},
            },
            "accuracy_control": {
                "validation_inference_precision": self.validation_inference_precision,
                "fp32_at_validation_precision": self.fp32_at_validation_precision,
                "plain_ptq": self.plain_ptq_value,
                "validations": [vars(call) for call in self.validation_calls],
                "steps": [vars(step) for step in self.steps],
                "reverted_operations": self.reverted_operations,
                "quantized_operations": {
                    "before": self.quantized_operations_before,
                    "after": self.quantized_operations_after,
                },
                "knobs": {key: _jsonable(value) for key, value in self.knobs.items()},
            },
            "timings_s": self.timings_s,
        }


class BudgetNotMetError(AccuracyBudgetError):
    """The accuracy budget does not hold on the deployed model; ``result`` holds the full story."""

    def __init__(self, message: str, result: AccuracyControlResult, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
