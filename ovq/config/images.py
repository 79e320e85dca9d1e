"""How an image file becomes a model input: the `preprocess:` block of an image dataset.

The steps run in a fixed order, the one most vision models were trained with:

    decode (Pillow) -> colour order -> resize -> scale -> (x - mean) / std -> layout -> dtype

so a pipeline file states its preprocessing once and the report, the stages and Python code
(`ovq.inputs.images.preprocess_image`) all apply the same thing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ovq.config.base import Strict

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ImagePreprocess(Strict):
    """Decode, resize and normalise one image into a model input (batch dimension added by the dataset)."""

    size: list[int] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="[height, width] of the model input; None keeps each image's own size (all must match)",
    )
    resize: Literal["exact", "letterbox", "crop"] = Field(
        "exact",
        description=(
            "exact: stretch to size; letterbox: keep the aspect ratio, fit inside size, pad with pad_value;"
            " crop: resize the shorter side to shorter_side (default: just covering size), then center-crop"
        ),
    )
    shorter_side: int | None = Field(None, ge=1, description="crop only: shorter side before the center crop")
    pad_value: int = Field(0, ge=0, le=255, description="letterbox only: the pixel value of the padding")
    color: Literal["rgb", "bgr", "gray"] = Field("rgb", description="channel order (gray: one channel)")
    scale: float | None = Field(
        None,
        gt=0,
        description="pixels (0..255) are multiplied by this; default 1/255 for float dtypes, 1 for uint8",
    )
    mean: list[float] | float = Field(0.0, description="subtracted after scaling; one value or one per channel")
    std: list[float] | float = Field(1.0, description="divided by after the mean; one value or one per channel")
    layout: Literal["NCHW", "NHWC"] = Field("NCHW", description="channels first (PyTorch, ONNX) or last (TFLite)")
    dtype: Literal["float32", "float16", "uint8"] = Field("float32", description="element type")

    @model_validator(mode="after")
    def _consistent(self) -> ImagePreprocess:
        channels = 1 if self.color == "gray" else 3
        for name in ("mean", "std"):
            value = getattr(self, name)
            if isinstance(value, list) and len(value) not in (1, channels):
                raise ValueError(f"{name}: give one value or {channels} (one per channel), got {len(value)}")
        stds = self.std if isinstance(self.std, list) else [self.std]
        if any(s == 0 for s in stds):
            raise ValueError("std: must not be 0")
        if self.size is not None and any(d < 1 for d in self.size):
            raise ValueError(f"size: dimensions must be positive, got {self.size}")
        if self.resize != "exact" and self.size is None:
            raise ValueError(f"resize: {self.resize} needs size: [height, width]")
        if self.shorter_side is not None and self.resize != "crop":
            raise ValueError("shorter_side applies to resize: crop only")
        if self.dtype == "uint8" and (self.scale not in (None, 1.0) or self.mean != 0.0 or self.std != 1.0):
            raise ValueError(f"dtype {self.dtype} feeds raw pixels; scale, mean and std apply to float dtypes only")
        return self

    @property
    def effective_scale(self) -> float:
        if self.scale is not None:
            return self.scale
        return 1.0 if self.dtype == "uint8" else 1.0 / 255.0
