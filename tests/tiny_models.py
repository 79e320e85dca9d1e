"""Tiny real models for tests: built in plain torch, converted by the real OpenVINO, seconds to run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

INPUT_SHAPE = (1, 3, 16, 16)


def tiny_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()


def tiny_items(count: int = 32, seed: int = 0) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(INPUT_SHAPE).astype(np.float32), int(rng.integers(0, 4))) for _ in range(count)]


def write_onnx(path: Path) -> Path:
    torch.onnx.export(tiny_cnn(), (torch.zeros(INPUT_SHAPE),), str(path), input_names=["x"], dynamo=False)
    return path


def write_ir(path: Path) -> Path:
    import openvino as ov

    model = ov.convert_model(tiny_cnn(), example_input=torch.zeros(INPUT_SHAPE))
    model.reshape(list(INPUT_SHAPE))
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def write_npz(path: Path, shape: tuple[int, ...] = INPUT_SHAPE, count: int = 16) -> Path:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((count, *shape[1:])).astype(np.float32)
    np.savez(path, inputs=inputs, labels=rng.integers(0, 4, count))
    return path
