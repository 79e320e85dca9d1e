"""Weight-only compression, FP16 IR and dynamic quantization on a tiny real model (no mocks)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ovq.compression.weights import (
    DYNAMIC_QUANTIZATION_PER_TOKEN,
    DYNAMIC_QUANTIZATION_PROPERTY,
    compress_weights,
    dynamic_quantization_properties,
    to_fp16,
    weight_precision,
)
from ovq.errors import ConfigError, ModelFormatError


@pytest.fixture(scope="module")
def mlp() -> Any:
    import openvino as ov
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(128, 256),
        torch.nn.GELU(),
        torch.nn.Linear(256, 256),
        torch.nn.GELU(),
        torch.nn.Linear(256, 64),
    ).eval()
    return ov.convert_model(module, example_input=torch.zeros(1, 128))


@pytest.fixture(scope="module")
def samples() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=(1, 128)).astype(np.float32) for _ in range(24)]


def _outputs(model: Any, samples: list[np.ndarray], precision: str = "f32") -> np.ndarray:
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    return np.concatenate([np.array(request.infer(x)[0]) for x in samples])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def _constant_types(model: Any) -> set[str]:
    return {op.get_output_element_type(0).get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"}


@pytest.mark.parametrize(("mode", "stored"), [("int8_sym", "i8"), ("int8_asym", "u8")])
def test_int8_weights(mlp: Any, samples: list[np.ndarray], mode: str, stored: str) -> None:
    compressed = compress_weights(mlp, mode=mode)
    assert stored in _constant_types(compressed)
    assert weight_precision(compressed) == "int8_weights" and weight_precision(mlp) is None
    assert _cosine(_outputs(compressed, samples), _outputs(mlp, samples)) > 0.999
    assert "f32" in _constant_types(mlp), "the input model is left as it was"


@pytest.mark.parametrize(("mode", "stored"), [("int4_sym", "i4"), ("int4_asym", "u4")])
def test_int4_weights_grouped(mlp: Any, samples: list[np.ndarray], mode: str, stored: str) -> None:
    compressed = compress_weights(mlp, mode=mode, group_size=32, all_layers=True)
    assert stored in _constant_types(compressed)
    assert weight_precision(compressed) == "int4_weights"
    assert _cosine(_outputs(compressed, samples), _outputs(mlp, samples)) > 0.98


def test_int4_ratio_keeps_some_layers_in_the_backup_precision(mlp: Any) -> None:
    compressed = compress_weights(mlp, mode="int4_asym", group_size=32, ratio=0.5, all_layers=True)
    assert {"u4", "u8"} <= _constant_types(compressed)


def test_int4_data_aware(mlp: Any, samples: list[np.ndarray]) -> None:
    plain = compress_weights(mlp, mode="int4_sym", group_size=32, all_layers=True)
    tuned = compress_weights(
        mlp, mode="int4_sym", group_size=32, all_layers=True, dataset=samples, scale_estimation=True
    )
    reference = _outputs(mlp, samples)
    # Scale estimation minimises each layer's output error on the data: it must not be worse.
    assert _cosine(_outputs(tuned, samples), reference) >= _cosine(_outputs(plain, samples), reference) - 1e-4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "int3"}, "mode 'int3' is unknown"),
        ({"mode": "int8_asym", "group_size": 64}, "group_size applies to int4 modes only"),
        ({"mode": "int8_sym", "ratio": 0.5}, "ratio applies to int4 modes only"),
        ({"mode": "int8_sym", "awq": True}, "awq: data-aware and mixed-precision options apply to int4"),
        ({"mode": "int4_asym", "scale_estimation": True}, "scale_estimation need a calibration dataset"),
        ({"mode": "int4_asym", "ratio": 1.5}, r"ratio must be in \[0, 1\]"),
        (
            {"mode": "int4_asym", "sensitivity_metric": "hessian_input_activation"},
            "needs a calibration dataset",
        ),
        ({"mode": "int4_asym", "backup_mode": "int2"}, "backup_mode 'int2' is unknown"),
    ],
)
def test_bad_options_are_config_errors(mlp: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compress_weights(mlp, **kwargs)


def test_compressing_twice_is_refused(mlp: Any) -> None:
    with pytest.raises(ModelFormatError, match="compress the weights of this model"):
        compress_weights(compress_weights(mlp, mode="int8_asym"), mode="int4_asym")


def test_to_fp16_halves_the_weights_in_memory(mlp: Any, samples: list[np.ndarray]) -> None:
    def weight_bytes(model: Any) -> int:
        return sum(op.data.nbytes for op in model.get_ops() if op.get_type_name() == "Constant")

    half = to_fp16(mlp)
    assert "f16" in _constant_types(half) and "f16" not in _constant_types(mlp)
    assert weight_bytes(half) == pytest.approx(weight_bytes(mlp) / 2, rel=0.05)
    assert _cosine(_outputs(half, samples), _outputs(mlp, samples)) > 0.9999


def test_dynamic_quantization_properties_reach_the_plugin(mlp: Any) -> None:
    import openvino as ov

    assert dynamic_quantization_properties(None) == {}
    assert dynamic_quantization_properties("per_token") == {
        DYNAMIC_QUANTIZATION_PROPERTY: DYNAMIC_QUANTIZATION_PER_TOKEN
    }
    for bad in (-1, True, 1.5):
        with pytest.raises(ConfigError, match="dynamic_quantization_group_size"):
            dynamic_quantization_properties(bad)  # type: ignore[arg-type]
    compressed = compress_weights(mlp, mode="int8_asym")
    core = ov.Core()
    for group_size in (0, 64):
        compiled = core.compile_model(compressed, "CPU", dynamic_quantization_properties(group_size))
        assert int(compiled.get_property(DYNAMIC_QUANTIZATION_PROPERTY)) == group_size
