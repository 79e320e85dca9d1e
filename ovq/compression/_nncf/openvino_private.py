"""OpenVINO's private Python names that ovq uses (``openvino._offline_transformations``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ovq.compression._nncf import require

if TYPE_CHECKING:
    import openvino as ov


def compress_weights_to_fp16(model: ov.Model) -> None:
    """In place: store floating-point weights as f16 with a Convert to f32, as ``save_model`` does."""
    transformations = require("openvino._offline_transformations", "compress_model_transformation")
    transformations.compress_model_transformation(model)
