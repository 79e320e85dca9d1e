"""Digits: a small CNN trained on sklearn's load_digits (1,797 real 8x8 handwritten digits).

The network trains on first use with a fixed seed (~10 s on 2 cores) and is cached as a state dict, so a
pipeline rerun or a test session pays for it once. Everything here is plain torch + sklearn: no download.

Recipe contract (see docs/recipes.md): build(), example_input(), dataset(split), DEFAULT_METRIC.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_METRIC = "top1"
SEED = 0
EPOCHS = 40
# Bump when the architecture or training changes: the cache file name carries it.
RECIPE_VERSION = "1"


def _images_and_labels() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's load_digits data, read from the file sklearn ships.

    Reading the CSV directly gives exactly load_digits()'s arrays without importing scikit-learn itself
    (over a second), which would otherwise dominate a cached pipeline rerun.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-learn is needed for the digits data: pip install scikit-learn")
    table = np.loadtxt(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    # Pixel values are 0..16; scale to 0..1 so the model sees a conventional range.
    images = (table[:, :-1].reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    return images, table[:, -1].astype(np.int64)


def _split_indices(count: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(count)
    n_validation = 540
    train = order[n_validation:]
    return {
        "train": train,
        "validation": order[:n_validation],
        # Calibration comes from the training split: PTQ must never see validation data.
        "calibration": train[:300],
    }


def dataset(split: str) -> list[tuple[np.ndarray, int]]:
    """Items are (image [1,1,8,8] float32, label) for split 'train', 'calibration' or 'validation'."""
    images, labels = _images_and_labels()
    splits = _split_indices(len(images))
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; the digits recipe has {sorted(splits)}")
    return [(images[i : i + 1], int(labels[i])) for i in splits[split]]


def example_input() -> np.ndarray:
    return np.zeros((1, 1, 8, 8), dtype=np.float32)


def _architecture() -> torch.nn.Module:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def cache_dir() -> Path:
    return Path(os.environ.get("OVQ_CACHE_DIR", Path.home() / ".cache" / "ovq"))


def _weights_path() -> Path:
    tag = hashlib.sha256(f"{RECIPE_VERSION}-{SEED}-{EPOCHS}".encode()).hexdigest()[:12]
    return cache_dir() / "recipes" / f"digits-{tag}.pt"


def train(epochs: int = EPOCHS) -> torch.nn.Module:
    import torch

    torch.manual_seed(SEED)
    model = _architecture()
    images, labels = _images_and_labels()
    train_idx = _split_indices(len(images))["train"]
    x = torch.from_numpy(images[train_idx])
    y = torch.from_numpy(labels[train_idx])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    batches_per_epoch = (len(x) + 63) // 64
    # One-cycle schedule: reaches ~98% validation top-1 in a few seconds, deterministically.
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * batches_per_epoch)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(64):
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def build() -> torch.nn.Module:
    """The trained CNN in eval mode, from the cache when it was trained before."""
    import torch

    path = _weights_path()
    model = _architecture()
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = train()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a concurrent or killed first run never leaves a torn weights file.
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


def top1_of(outputs: list[Any], targets: list[Any]) -> float:
    return float(np.mean([int(np.argmax(o)) == int(t) for o, t in zip(outputs, targets, strict=True)]))
