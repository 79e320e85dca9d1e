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


OUTLIER_HIDDEN = 48


def digits_outlier_mlp() -> tuple[torch.nn.Module, list[tuple[np.ndarray, int]], list[tuple[np.ndarray, int]]]:
    """An MLP on sklearn's digits whose second MatMul's INT8 input quantizer is ruined by one outlier channel.

    Random ReLU features and a least-squares read-out (deterministic, no training). fc1 has one extra channel
    that is always 300 and that fc2 ignores (zero weights): FP32 does not notice it, but the per-tensor u8
    quantizer in front of fc2 must span 0..300, so INT8 top-1 collapses; reverting fc2 alone recovers it.
    Returns the torch module and (calibration, validation) items ``(image [1, 64], label)``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    train, validation = order[400:], order[:400]
    rng = np.random.default_rng(1)
    hidden = OUTLIER_HIDDEN
    w1 = rng.normal(0, 1 / 8, (64, hidden)).astype(np.float32)
    b1 = rng.normal(0, 0.3, hidden).astype(np.float32)
    w2 = rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden)).astype(np.float32)
    b2 = rng.normal(0, 0.3, hidden).astype(np.float32)
    features = np.maximum(np.maximum(images[train] @ w1 + b1, 0) @ w2 + b2, 0)
    design = np.c_[features, np.ones(len(features))]
    one_hot = np.eye(10, dtype=np.float32)[labels[train]]
    readout = np.linalg.solve(design.T @ design + 1e-2 * np.eye(design.shape[1]), design.T @ one_hot).astype(np.float32)

    class OutlierMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(64, hidden + 1)
            self.fc2 = torch.nn.Linear(hidden + 1, hidden)
            self.fc3 = torch.nn.Linear(hidden, 10)
            with torch.no_grad():
                self.fc1.weight[:hidden] = torch.from_numpy(w1.T)
                self.fc1.bias[:hidden] = torch.from_numpy(b1)
                self.fc1.weight[hidden] = 0.0
                self.fc1.bias[hidden] = 300.0
                self.fc2.weight[:, :hidden] = torch.from_numpy(w2.T)
                self.fc2.weight[:, hidden] = 0.0
                self.fc2.bias[:] = torch.from_numpy(b2)
                self.fc3.weight[:] = torch.from_numpy(readout[:-1].T)
                self.fc3.bias[:] = torch.from_numpy(readout[-1])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))  # type: ignore[no-any-return]

    calibration = [(images[i : i + 1], int(labels[i])) for i in train[:300]]
    validation_items = [(images[i : i + 1], int(labels[i])) for i in validation]
    return OutlierMLP().eval(), calibration, validation_items


def digits_outlier_mlp_module() -> torch.nn.Module:
    """The module alone, as a ``model.factory`` / ``ovq optimize`` entry point."""
    return digits_outlier_mlp()[0]
