"""One mapping of OpenVINO failures to ovq errors, whichever caller hits them (real OpenVINO, tiny models)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ovq.cli.benchmark import run_benchmark
from ovq.errors import ConfigError, DataMismatchError, ModelFormatError, StageError
from ovq.runtime.compile import compile_config, compile_model
from ovq.runtime.convert import export_model, read_model_file
from ovq.runtime.infer import infer_outputs
from tests.tiny_models import write_ir


@pytest.fixture(scope="module")
def ir_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ir(tmp_path_factory.mktemp("ir") / "tiny.xml")


class _Eigen(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.eig(x)[0].real + torch.linalg.eig(x)[1].real.sum()


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("num_streams", "abc", "streams"),
        ("num_threads", -3, "INFERENCE_NUM_THREADS"),
    ],
)
def test_a_bad_plugin_value_is_a_config_error_from_every_caller(
    ir_path: Path, option: str, value: object, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as from_library:
        compile_model(ir_path, **{option: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=words) as from_benchmark:
        run_benchmark(ir_path, iterations=1, **{option: value})  # type: ignore[arg-type]
    assert from_library.value.exit_code == from_benchmark.value.exit_code == 2
    assert "rejected a setting" in from_library.value.message
    assert "Exception from" not in from_benchmark.value.message


def test_an_unknown_property_and_a_missing_device_are_config_errors(ir_path: Path) -> None:
    with pytest.raises(ConfigError, match="FOO_BAR"):
        compile_model(ir_path, extra={"FOO_BAR": "1"})
    with pytest.raises(ConfigError, match="device NPU_THAT_IS_NOT_HERE is not available") as caught:
        compile_model(ir_path, device="NPU_THAT_IS_NOT_HERE")
    assert "CPU" in caught.value.hint


def test_one_builder_for_the_plugin_configuration() -> None:
    assert compile_config(hint="tput", num_streams="auto", num_threads=2) == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": "AUTO",
        "INFERENCE_NUM_THREADS": "2",
    }
    assert compile_config(hint="none", inference_precision="f32") == {"INFERENCE_PRECISION_HINT": "f32"}
    with pytest.raises(ConfigError, match="unknown hint 'fast'"):
        compile_config(hint="fast")
    with pytest.raises(ConfigError, match="unknown inference precision 'i7'"):
        compile_config(inference_precision="i7")


def test_a_conversion_failure_keeps_the_converter_message_and_names_the_cause() -> None:
    with pytest.raises(StageError) as caught:
        export_model(_Eigen(), example_input=torch.zeros(3, 3).numpy())
    message = caught.value.message
    # The converter's summary, not only its last line: the unsupported operation by name.
    assert "wasn't fully converted" in message
    assert "aten::linalg_eig" in message
    assert "unsupported" in caught.value.hint and "static" in caught.value.hint
    assert caught.value.exit_code == 3


def test_a_truncated_ir_is_a_model_format_error_with_the_reexport_hint(ir_path: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.xml"
    cut.write_text(ir_path.read_text()[:300])
    shutil.copy(ir_path.with_suffix(".bin"), cut.with_suffix(".bin"))
    with pytest.raises(ModelFormatError, match="cannot read") as from_library:
        read_model_file(cut)
    with pytest.raises(ModelFormatError, match="cannot read") as from_benchmark:
        run_benchmark(cut, iterations=1)
    for caught in (from_library, from_benchmark):
        assert f"cannot read {cut}" in caught.value.message
        assert "re-export" in caught.value.hint and ".xml and .bin" in caught.value.hint


def test_inference_on_data_of_the_wrong_shape_is_a_data_mismatch(ir_path: Path) -> None:
    import numpy as np

    compiled = compile_model(ir_path, hint="latency").compiled
    with pytest.raises(DataMismatchError, match="inference failed on the dataset"):
        infer_outputs(compiled, [np.zeros((1, 5), np.float32)])
