"""Digits with outlier channels: a model on which plain INT8 PTQ loses clearly, and QAT wins it back.

The CNN is trained on sklearn's load_digits (1,797 real 8x8 handwritten digits) with a fixed seed, in
about 2 s, every time it is built (no cache needed). Then four channels of its first convolution are
made 300x larger and the next convolution's weights for them 300x smaller. The network computes exactly
the same function in FP32 (ReLU commutes with a positive scale), but the first activation tensor now
has a few outlier channels, as large models often do. INT8 PTQ quantizes that tensor with one scale,
set by the outliers, which leaves the other twelve channels only a handful of levels: top-1 drops by
several points. QAT trains the weights and the quantizer scales through that rounding and recovers.

Recipe contract: build(), example_input(), dataset(split), DEFAULT_METRIC.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_METRIC = "top1"
SEED = 0
EPOCHS = 20
OUTLIER_CHANNELS = 4
OUTLIER_GAIN = 300.0


def _digits() -> ModuleType:
    """The digits recipe beside this one: same data, same splits, same architecture (one place for each)."""
    from ovq.inputs.user_code import load_module_from_file

    return load_module_from_file(Path(__file__).resolve().parent.parent / "digits" / "recipe.py")


def _images_and_labels() -> tuple[np.ndarray, np.ndarray]:
    images, labels = _digits()._images_and_labels()
    return images, labels


def _split_indices(count: int) -> dict[str, np.ndarray]:
    # Calibration is a slice of the training split: neither PTQ nor QAT ever sees validation items.
    splits: dict[str, np.ndarray] = _digits()._split_indices(count)
    return splits


def dataset(split: str) -> list[tuple[np.ndarray, int]]:
    """Items are (image [1, 1, 8, 8] float32 in 0..1, label) for 'train', 'calibration' or 'validation'."""
    items: list[tuple[np.ndarray, int]] = _digits().dataset(split)
    return items


def example_input() -> np.ndarray:
    return np.zeros((1, 1, 8, 8), dtype=np.float32)


def architecture() -> torch.nn.Module:
    module: torch.nn.Module = _digits()._architecture()
    return module


def train() -> torch.nn.Module:
    """The FP32 CNN as trained, before the outlier channels are introduced (~98% validation top-1)."""
    import torch

    images, labels = _images_and_labels()
    index = _split_indices(len(images))["train"]
    x, y = torch.from_numpy(images[index]), torch.from_numpy(labels[index])
    threads = torch.get_num_threads()
    # A CNN this small trains fastest on one thread: more only add synchronisation, which a machine
    # busy with other work turns into minutes.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = architecture()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            steps = EPOCHS * -(-len(x) // 32)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
            generator = torch.Generator().manual_seed(SEED)
            model.train()
            for _ in range(EPOCHS):
                for batch in torch.randperm(len(x), generator=generator).split(32):
                    optimizer.zero_grad()
                    torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                    optimizer.step()
                    schedule.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def add_outlier_channels(model: torch.nn.Module, channels: int = OUTLIER_CHANNELS, gain: float = OUTLIER_GAIN) -> None:
    """Scale `channels` output channels of the first conv by `gain` and undo it in the second (in place)."""
    import torch

    first, second = model[0], model[2]
    with torch.no_grad():
        first.weight[:channels] *= gain
        first.bias[:channels] *= gain
        second.weight[:, :channels] /= gain


def build() -> torch.nn.Module:
    """The trained CNN with outlier channels, in eval mode (same FP32 accuracy as without them)."""
    model = train()
    add_outlier_channels(model)
    return model
