"""The stages as plain functions, on real OpenVINO and NNCF with tiny models."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

import ovq
from ovq.compression.budget import metric_drop
from ovq.config.schema import DatasetSpec, MetricSpec
from ovq.errors import ConfigError, DataMismatchError, ModelFormatError
from ovq.inputs.datasets import check_fits, load_dataset
from ovq.inputs.metrics import resolve_metric
from ovq.runtime.artifacts import staged_dir
from tests import tiny_models


@pytest.fixture(scope="module")
def fp32_model():  # type: ignore[no-untyped-def]
    import torch

    return ovq.export_model(tiny_models.tiny_cnn(), example_input=torch.zeros(tiny_models.INPUT_SHAPE).numpy())


def test_export_makes_traced_shapes_static(fp32_model) -> None:  # type: ignore[no-untyped-def]
    assert [list(p.get_shape()) for p in fp32_model.inputs] == [list(tiny_models.INPUT_SHAPE)]


def test_export_keeps_dynamic_shapes_when_asked() -> None:
    model = ovq.export_model(
        tiny_models.tiny_cnn(),
        example_input=np.zeros(tiny_models.INPUT_SHAPE, np.float32),
        static_shapes=False,
    )
    assert model.inputs[0].get_partial_shape().is_dynamic


def test_export_reshapes_to_given_shapes(tmp_path: Path) -> None:
    onnx = tiny_models.write_onnx(tmp_path / "m.onnx")
    model = ovq.export_model(onnx, input_shapes={"x": [2, 3, 16, 16]})
    assert list(model.inputs[0].get_shape()) == [2, 3, 16, 16]
    with pytest.raises(ConfigError, match=r"input_shapes names unknown inputs \['y'\]"):
        ovq.export_model(onnx, input_shapes={"y": [1, 3, 16, 16]})


def test_unsupported_model_file(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"x")
    with pytest.raises(ModelFormatError, match=r"unsupported model file type '\.pt'"):
        ovq.read_model_file(path)


def test_quantize_inserts_fake_quantize_and_refuses_twice(fp32_model) -> None:  # type: ignore[no-untyped-def]
    int8 = ovq.quantize(fp32_model, tiny_models.tiny_items(16), subset_size=16)
    assert sum(op.get_type_name() == "FakeQuantize" for op in int8.get_ops()) > 0
    with pytest.raises(ModelFormatError, match="already has FakeQuantize"):
        ovq.quantize(int8, tiny_models.tiny_items(4))


def test_ignored_scope_entry_that_matches_nothing_is_an_error(fp32_model) -> None:  # type: ignore[no-untyped-def]
    scope = ovq.make_ignored_scope(names=["does-not-exist"])
    with pytest.raises(ConfigError, match="does-not-exist"):
        ovq.quantize(fp32_model, tiny_models.tiny_items(4), ignored_scope=scope)


def test_compile_records_what_the_plugin_resolved(fp32_model) -> None:  # type: ignore[no-untyped-def]
    latency = ovq.compile_model(fp32_model, hint="latency", inference_precision="f32")
    assert latency.inference_precision == "f32"
    assert latency.num_streams == 1 and latency.num_requests == 1
    assert latency.properties["PERFORMANCE_HINT"] == "LATENCY"
    assert latency.compile_ms > 0
    throughput = ovq.compile_model(fp32_model, hint="throughput", num_streams=2)
    assert throughput.num_streams == 2


def test_evaluate_top1_on_real_digits() -> None:
    from models.digits import recipe

    model = ovq.export_model(recipe.build(), example_input=recipe.example_input())
    compiled = ovq.compile_model(model, inference_precision="f32")
    top1 = resolve_metric("top1", MetricSpec(function="top1"), base_dir=None)
    accuracy = ovq.evaluate(compiled.compiled, recipe.dataset("validation"), top1)
    assert 0.95 < accuracy <= 1.0


def test_metric_drop_follows_direction() -> None:
    top1 = resolve_metric("top1", MetricSpec(function="top1"), base_dir=None)
    mse = resolve_metric("mse", MetricSpec(function="mse"), base_dir=None)
    assert metric_drop(0.9, 0.8, higher_is_better=top1.higher_is_better) == pytest.approx(0.1)
    # lower is better: a rise is a drop
    assert metric_drop(0.1, 0.3, higher_is_better=mse.higher_is_better) == pytest.approx(0.2)
    assert metric_drop(0.1, 0.3, higher_is_better=False, drop_type="relative") == pytest.approx(2.0)
    # A relative drop from a reference of 0 never divides by zero.
    assert metric_drop(0.0, 0.0, higher_is_better=True, drop_type="relative") == 0.0
    assert metric_drop(0.0, -1.0, higher_is_better=True, drop_type="relative") == math.inf


def test_npz_dataset_batches_and_fits(tmp_path: Path, fp32_model) -> None:  # type: ignore[no-untyped-def]
    path = tiny_models.write_npz(tmp_path / "d.npz", count=10)
    items = load_dataset(DatasetSpec(path=str(path)), base_dir=None)
    assert len(items) == 10 and items[0][0].shape == tiny_models.INPUT_SHAPE
    check_fits(fp32_model, items, dataset_name="d")
    batched = load_dataset(DatasetSpec(path=str(path), batch_size=2, limit=3), base_dir=None)
    assert len(batched) == 3 and batched[0][0].shape == (2, 3, 16, 16)
    with pytest.raises(DataMismatchError, match=r"expects shape \[1,3,16,16\], the data has \[2, 3, 16, 16\]"):
        check_fits(fp32_model, batched, dataset_name="d")


def test_factory_dataset_from_file(tmp_path: Path) -> None:
    module = tmp_path / "data_factory.py"
    module.write_text("import numpy as np\ndef items():\n    return [np.zeros((1, 2), np.float32)] * 3\n")
    items = load_dataset(DatasetSpec(factory="data_factory.py:items"), base_dir=tmp_path)
    assert len(items) == 3 and items[0][1] is None


def test_staged_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "stage"
    with pytest.raises(RuntimeError), staged_dir(final) as staging:
        (staging / "model.xml").write_text("half")
        raise RuntimeError("killed mid-stage")
    assert list(tmp_path.iterdir()) == []
    with staged_dir(final) as staging:
        (staging / "model.xml").write_text("whole")
    assert (final / "model.xml").read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["stage"]


def test_public_api_is_explicit() -> None:
    assert isinstance(ovq.__version__, str) and ovq.__version__[0].isdigit()
    for name in (n for n in ovq.__all__ if n != "__version__"):
        exported = getattr(ovq, name)
        # Each name resolves to the object its defining module holds under that name.
        assert getattr(sys.modules[exported.__module__], name) is exported
    with pytest.raises(AttributeError):
        ovq.no_such_thing  # noqa: B018


def test_per_tensor_weights_give_scalar_weight_scales(fp32_model) -> None:  # type: ignore[no-untyped-def]
    def weight_scale_sizes(model) -> list[int]:  # type: ignore[no-untyped-def]
        # NNCF stores quantized weights as int8 constants -> Convert -> Multiply(scale): read the scale's size.
        sizes = []
        for op in model.get_ops():
            if op.get_type_name() != "Multiply":
                continue
            producer = op.input_value(0).get_node()
            if (
                producer.get_type_name() == "Convert"
                and producer.input_value(0).get_node().get_type_name() == "Constant"
            ):
                sizes.append(int(np.prod(list(op.input(1).get_partial_shape().to_shape()))))
        return sizes

    items = tiny_models.tiny_items(8)
    per_channel = weight_scale_sizes(ovq.quantize(fp32_model, items, subset_size=8))
    per_tensor = weight_scale_sizes(ovq.quantize(fp32_model, items, subset_size=8, weights_granularity="per_tensor"))
    assert per_channel and max(per_channel) > 1  # one scale per output channel
    assert per_tensor and max(per_tensor) == 1
