"""ResNet-50-shaped image classifier for speed measurements.

The network has ResNet-50's exact layer structure (bottleneck blocks 3-4-6-3, 25.6 M parameters,
~4.1 GFLOPs at 224x224) written in plain torch, because torchvision does not import beside the CPU torch
wheel on the build machines. The weights are random with a fixed seed: this recipe measures speed, size and
execution precision only. Accuracy claims need trained weights; `DEFAULT_METRIC` is None so a pipeline
cannot silently report an accuracy for it.

Recipe contract (what `recipe: resnet50` in a pipeline file uses):

    build()            -> torch.nn.Module in eval mode, deterministic weights
    example_input()    -> np.ndarray of shape (1, 3, 224, 224), float32
    dataset(split)     -> list of (image, None) pairs, random but seeded per split
    DEFAULT_METRIC     -> None (no labels: random images have no ground truth)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

INPUT_SHAPE: tuple[int, int, int, int] = (1, 3, 224, 224)
NUM_CLASSES = 1000
WEIGHTS_SEED = 0
DEFAULT_METRIC: str | None = None
# Split sizes stay small: calibration of a random-weight model gains nothing from more images, and each
# image is 600 kB.
SPLIT_SIZES: dict[str, int] = {"calibration": 64, "validation": 32, "test": 32}
_SPLIT_SEEDS: dict[str, int] = {"calibration": 1, "validation": 2, "test": 3}


def _make_network(num_classes: int) -> torch.nn.Module:
    # Defined inside a function so that importing the recipe (e.g. to list recipes) does not import torch.
    from torch import nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, in_channels: int, width: int, stride: int) -> None:
            super().__init__()
            out_channels = width * self.expansion
            self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_channels)
            self.relu = nn.ReLU(inplace=True)
            self.downsample: nn.Module | None = None
            if stride != 1 or in_channels != out_channels:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(out_channels),
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            layers: list[nn.Module] = []
            in_channels = 64
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                stage: list[nn.Module] = []
                for index in range(blocks):
                    stage.append(Bottleneck(in_channels, width, stride if index == 0 else 1))
                    in_channels = width * Bottleneck.expansion
                layers.append(nn.Sequential(*stage))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(in_channels, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    network = ResNet50()
    # torchvision's initialisation, so activation ranges look like a real ResNet's rather than exploding
    # or vanishing through 16 residual blocks (which would make INT8 calibration unrepresentative).
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return network


def build(num_classes: int = NUM_CLASSES) -> torch.nn.Module:
    """Build the ResNet-50-shaped network with seeded random weights, in eval mode."""
    import torch

    # A private generator state keeps the weights identical whatever the caller did with torch's RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        network = _make_network(num_classes)
    return network.eval()


def example_input() -> np.ndarray:
    """One ImageNet-normalised-looking image batch of shape (1, 3, 224, 224), float32."""
    return np.random.default_rng(0).standard_normal(INPUT_SHAPE, dtype=np.float32)


def dataset(split: str = "calibration", size: int | None = None) -> list[tuple[np.ndarray, Any]]:
    """Seeded random images for `split` ("calibration", "validation" or "test"), labels None.

    The images stand in for ImageNet-normalised inputs (standard normal per pixel), which is enough to
    calibrate INT8 ranges for speed measurements; they carry no labels, so no accuracy is computed.
    """
    if split not in _SPLIT_SEEDS:
        from ovq.errors import ConfigError

        raise ConfigError(
            f"resnet50 recipe has no split {split!r}", hint=f"use one of {', '.join(sorted(_SPLIT_SEEDS))}"
        )
    count = SPLIT_SIZES[split] if size is None else size
    generator = np.random.default_rng(_SPLIT_SEEDS[split])
    return [(generator.standard_normal(INPUT_SHAPE, dtype=np.float32), None) for _ in range(count)]
