"""User code the robustness cases name in their pipelines: factories and metrics that misbehave."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tests.tiny_models import INPUT_SHAPE, tiny_cnn


def good_model() -> torch.nn.Module:
    return tiny_cnn()


def returns_none() -> None:
    return None


def returns_number() -> int:
    return 42


def returns_dict() -> dict[str, Any]:
    return {"model": tiny_cnn()}


def exits_zero() -> torch.nn.Module:
    sys.exit(0)


def exits_three() -> torch.nn.Module:
    sys.exit(3)


def raises_value_error() -> torch.nn.Module:
    raise ValueError("the checkpoint has no 'state_dict' key")


class _Log(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x).mean(dim=(2, 3))  # log of negative inputs: NaN outputs from finite data


def nan_outputs_model() -> torch.nn.Module:
    return _Log().eval()


class _ReluOnly(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x).mean(dim=(2, 3))  # nothing for INT8 to quantize


def no_compute_model() -> torch.nn.Module:
    return _ReluOnly().eval()


def _rng_items(count: int = 8) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(INPUT_SHAPE).astype(np.float32), int(rng.integers(0, 4))) for _ in range(count)]


def good_items() -> list[tuple[np.ndarray, int]]:
    return _rng_items()


def nan_items() -> list[tuple[np.ndarray, int]]:
    items = _rng_items()
    items[5][0][0, 1, 2, 3] = np.nan
    return items


def inf_items() -> list[tuple[np.ndarray, int]]:
    items = _rng_items()
    items[2][0][0, 0, 0, 0] = -np.inf
    return items


def int64_items() -> list[tuple[np.ndarray, int]]:
    return [((x * 10).astype(np.int64), y) for x, y in _rng_items()]


def empty_items() -> list[Any]:
    return []


def items_none() -> None:
    return None


def items_string() -> str:
    return "not data"


def items_exit() -> list[Any]:
    sys.exit(0)


def object_items() -> list[tuple[Any, int]]:
    return [(np.array(["a", None], dtype=object), 0)]


def metric_nan(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    return float("nan")


def metric_inf(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    return float("inf")


def metric_string(outputs: Sequence[Any], targets: Sequence[Any]) -> str:
    return "0.93"


def metric_none(outputs: Sequence[Any], targets: Sequence[Any]) -> None:
    return None


def metric_array(outputs: Sequence[Any], targets: Sequence[Any]) -> np.ndarray:
    return np.asarray([0.9, 0.8])


def metric_bool(outputs: Sequence[Any], targets: Sequence[Any]) -> bool:
    return True


def metric_exit(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    sys.exit(0)


def metric_ok(outputs: Sequence[Any], targets: Sequence[Any]) -> float:
    return 0.5
