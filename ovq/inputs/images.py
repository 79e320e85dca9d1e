"""Image folders -> dataset items, with the preprocessing a pipeline file declares (Pillow decodes).

    >>> from ovq.inputs.images import ImagePreprocess, preprocess_image
    >>> x = preprocess_image("cat.jpg", ImagePreprocess(size=[224, 224], resize="crop",
    ...                      mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]))
    >>> x.shape   # (3, 224, 224): one sample; a dataset stacks batch_size of them on a new first axis

The same function serves the pipeline's `images:` datasets and user code, so a deployment preprocesses
exactly as the calibration and validation data were.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovq.config.images import IMAGE_SUFFIXES, ImagePreprocess
from ovq.errors import DataMismatchError, DependencyError, InputFileError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "IMAGE_SUFFIXES",
    "ImagePreprocess",
    "describe_preprocess",
    "find_images",
    "image_labels",
    "load_image_items",
    "preprocess_image",
]


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file under `folder` (recursive), sorted by relative path so the order never varies."""
    root = Path(folder)
    if not root.is_dir():
        hint = "images: names a folder; for .npy/.npz files use path:" if root.is_file() else None
        raise InputFileError(f"image folder not found: {root}", hint=hint)
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise InputFileError(
            f"no images in {root}", hint=f"the folder (and its sub-folders) needs {', '.join(IMAGE_SUFFIXES)} files"
        )
    return files


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as error:
        raise DependencyError("image datasets need Pillow", hint="pip install Pillow") from error
    return Image


def preprocess_image(image: str | os.PathLike[str] | Image, preprocess: ImagePreprocess | None = None) -> np.ndarray:
    """One image (a file or a PIL image) -> one model input sample, without the batch dimension.

    Steps, in order: colour order, resize (exact / letterbox / shorter side + center crop), x * scale,
    (x - mean) / std, layout (CHW or HWC), dtype.
    """
    spec = preprocess or ImagePreprocess()
    pil = _pil()
    if isinstance(image, str | os.PathLike):
        try:
            with pil.open(image) as opened:
                picture = opened.convert("L" if spec.color == "gray" else "RGB")
        except (OSError, ValueError) as error:
            raise InputFileError(f"cannot decode image {image}: {error}") from None
    else:
        picture = image.convert("L" if spec.color == "gray" else "RGB")
    picture = _resize(picture, spec)
    pixels = np.asarray(picture)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if spec.color == "bgr":
        pixels = pixels[:, :, ::-1]
    if spec.dtype == "uint8":
        array = np.asarray(pixels, dtype=np.uint8, order="C")
    else:
        scaled: np.ndarray = pixels.astype(np.float32) * np.float32(spec.effective_scale)
        normalised: np.ndarray = (scaled - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
        array = normalised.astype(spec.dtype)
    if spec.layout == "NCHW":
        array = array.transpose(2, 0, 1)
    return np.asarray(array, order="C")


def _resize(picture: Image, spec: ImagePreprocess) -> Image:
    pil = _pil()
    if spec.size is None:
        return picture
    height, width = spec.size
    resample = pil.Resampling.BILINEAR
    if spec.resize == "exact":
        return picture.resize((width, height), resample)
    if spec.resize == "letterbox":
        ratio = min(width / picture.width, height / picture.height)
        inner = (max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio)))
        fill = spec.pad_value if picture.mode == "L" else (spec.pad_value,) * 3
        canvas: Image = pil.new(picture.mode, (width, height), fill)
        canvas.paste(picture.resize(inner, resample), ((width - inner[0]) // 2, (height - inner[1]) // 2))
        return canvas
    # crop: the shorter side to shorter_side (default: just enough to cover size), then the center.
    shorter = spec.shorter_side or max(height, width)
    ratio = shorter / min(picture.width, picture.height)
    scaled = (max(width, round(picture.width * ratio)), max(height, round(picture.height * ratio)))
    picture = picture.resize(scaled, resample)
    left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
    return picture.crop((left, top, left + width, top + height))


def image_labels(folder: Path, files: Sequence[Path], labels: str, *, base_dir: Path | None) -> list[int]:
    """One integer label per image: from its sub-folder ('folders') or from a CSV with columns file,label."""
    if labels == "folders":
        names = []
        for file in files:
            parts = file.relative_to(folder).parts
            if len(parts) < 2:
                raise DataMismatchError(
                    f"labels: folders, but {file.name} sits directly in {folder}",
                    hint="put each image in a sub-folder named after its class",
                )
            names.append(parts[0])
        return _numbered(names)
    csv_path = Path(labels)
    if not csv_path.is_absolute() and base_dir is not None:
        csv_path = base_dir / csv_path
    if not csv_path.is_file():
        raise InputFileError(f"labels file not found: {csv_path}")
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise InputFileError(f"{csv_path}: needs a header row with columns file,label")
    by_file = {Path(row["file"]).as_posix(): row["label"].strip() for row in rows}
    keys = [file.relative_to(folder).as_posix() for file in files]
    missing = [key for key in keys if key not in by_file]
    if missing:
        raise DataMismatchError(
            f"{csv_path}: no label for {len(missing)} image(s), e.g. {missing[:3]}",
            hint="add a row per image (file relative to the image folder), or move unlabeled images out",
        )
    return _numbered([by_file[key] for key in keys])


def _numbered(names: Sequence[str]) -> list[int]:
    # Integer-looking labels are the class indices themselves; names are numbered in sorted order.
    if all(name.lstrip("-").isdigit() for name in names):
        return [int(name) for name in names]
    index = {name: number for number, name in enumerate(sorted(set(names)))}
    return [index[name] for name in names]


def load_image_items(
    folder: str | os.PathLike[str],
    *,
    preprocess: ImagePreprocess | None = None,
    labels: str | None = None,
    batch_size: int = 1,
    limit: int | None = None,
    base_dir: Path | None = None,
) -> list[tuple[np.ndarray, Any]]:
    """Dataset items from an image folder: (inputs [batch, ...], labels [batch] or a scalar for batch 1, or None).

    `limit` counts items (batches). Images that do not all come out the same shape are an error naming two
    of them (set preprocess.size).
    """
    root = Path(folder)
    if not root.is_absolute() and base_dir is not None:
        root = base_dir / root
    files = find_images(root)
    if limit is not None:
        files = files[: limit * batch_size]
    targets = image_labels(root, files, labels, base_dir=base_dir) if labels else None
    samples = [preprocess_image(file, preprocess) for file in files]
    first = samples[0].shape
    odd = next((i for i, sample in enumerate(samples) if sample.shape != first), None)
    if odd is not None:
        raise DataMismatchError(
            f"images differ in size: {files[0].name} gives {list(first)}, {files[odd].name} {list(samples[odd].shape)}",
            hint="set preprocess.size: [height, width] (and resize: exact, letterbox or crop)",
        )
    items: list[tuple[np.ndarray, Any]] = []
    for start in range(0, len(samples) - batch_size + 1, batch_size):
        batch = np.stack(samples[start : start + batch_size])
        target = None if targets is None else np.asarray(targets[start : start + batch_size]).squeeze()
        items.append((batch, target))
    return items


def describe_preprocess(preprocess: ImagePreprocess | None) -> dict[str, Any]:
    """The preprocessing with every default spelled out, as the report records it."""
    spec = preprocess or ImagePreprocess()
    described = spec.model_dump(mode="json")
    described["scale"] = spec.effective_scale
    described["steps"] = "decode -> color -> resize -> x*scale -> (x-mean)/std -> layout -> dtype"
    return described
