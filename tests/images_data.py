"""Image folders built from sklearn's digits (real 8x8 handwritten digits), written with Pillow.

Pixel = digit value (0..16) * 15, so `scale: 1/240` gives back the digits recipe's value / 16 exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.digits import recipe as digits


def digit_images(count: int, split: str = "validation") -> list[tuple[np.ndarray, int]]:
    """(uint8 8x8 image, label) for the first `count` items of a digits split."""
    items = digits.dataset(split)[:count]
    return [(np.round(image[0, 0] * 16 * 15).astype(np.uint8), label) for image, label in items]


def write_digit_folder(
    folder: Path, count: int = 40, *, by_class: bool = True, upscale: int = 1, suffix: str = ".png", rgb: bool = False
) -> Path:
    """Write digits as images: <folder>/<label>/<index>.png (or flat, without class sub-folders)."""
    from PIL import Image

    for index, (pixels, label) in enumerate(digit_images(count)):
        picture = Image.fromarray(pixels, mode="L")
        if upscale > 1:
            picture = picture.resize((8 * upscale, 8 * upscale), Image.Resampling.NEAREST)
        if rgb:
            picture = picture.convert("RGB")
        target = folder / str(label) if by_class else folder
        target.mkdir(parents=True, exist_ok=True)
        picture.save(target / f"{index:04d}{suffix}")
    return folder
