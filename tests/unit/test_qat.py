"""QAT functions for existing training code and the train_qat driver, on a tiny real CNN and real NNCF."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest
import torch

from ovq.compression.qat.functions import (
    ensure_nncf_extension,
    export_qat,
    load_qat_checkpoint,
    prepare_qat,
    save_qat_checkpoint,
)
from ovq.compression.qat.torch_glue import batches, quantizer_count, resolve_loss
from ovq.compression.qat.train import QatBudgetError, QatProgress, train_qat
from ovq.errors import AccuracyBudgetError, ConfigError, DataMismatchError, InputFileError, ModelFormatError

REPO = Path(__file__).resolve().parents[2]
Item = tuple[np.ndarray, int]


def tiny_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 10),
    )


@pytest.fixture(scope="module")
def items() -> dict[str, list[Item]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.images))[:384]
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    pairs = [(images[i : i + 1], int(digits.target[i])) for i in order]
    return {"train": pairs[:256], "validation": pairs[256:], "calibration": pairs[:64]}


@pytest.fixture(scope="module")
def fp32_model(items: dict[str, list[Item]]) -> torch.nn.Module:
    torch.manual_seed(0)
    model = tiny_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        for inputs, targets in batches(items["train"], 32, generator=generator):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def qat_model(fp32_model: torch.nn.Module, items: dict[str, list[Item]]) -> torch.nn.Module:
    return prepare_qat(fp32_model, items["calibration"], subset_size=64)


def int8_compute_layers(compiled: ov.CompiledModel) -> list[str]:
    found = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) in ("Convolution", "FullyConnected") and info["runtimePrecision"].astype(
            str
        ) in ("u8", "i8"):
            found.append(info["layerType"].astype(str))
    return found


# ------------------------------------------------------------------------------------------ prepare_qat


def test_prepare_qat_leaves_the_user_module_alone_and_keeps_the_sequential_layout(
    fp32_model: torch.nn.Module, qat_model: torch.nn.Module
) -> None:
    assert quantizer_count(fp32_model) == 0
    # weights and activations of the conv and the linear layer, plus the input
    assert quantizer_count(qat_model) >= 4
    assert qat_model.training
    assert isinstance(qat_model[0], torch.nn.Conv2d) and isinstance(qat_model, torch.nn.Sequential)
    user_keys = set(fp32_model.state_dict())
    assert user_keys <= set(qat_model.state_dict())
    with torch.no_grad():
        assert qat_model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_the_users_loop_trains_weights_and_quantizer_scales(
    qat_model: torch.nn.Module, items: dict[str, list[Item]]
) -> None:
    import copy

    model = copy.deepcopy(qat_model)
    scales_before = {k: v.clone() for k, v in model.state_dict().items() if k.endswith(".scale")}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs, targets = next(batches(items["train"], 32))
    torch.nn.functional.cross_entropy(model(inputs), targets).backward()
    optimizer.step()
    after = model.state_dict()
    assert scales_before
    assert any(not torch.equal(after[k], v) for k, v in scales_before.items())


def test_an_ignored_scope_that_matches_nothing_is_a_config_error(
    fp32_model: torch.nn.Module, items: dict[str, list[Item]]
) -> None:
    with pytest.raises(ConfigError, match="no_such_layer"):
        prepare_qat(fp32_model, items["calibration"], ignored_scope={"names": ["no_such_layer"]})


def test_calibration_items_of_the_wrong_shape_are_named(fp32_model: torch.nn.Module) -> None:
    wrong = [(np.zeros((1, 1, 5, 5), np.float32), 0)] * 4
    with pytest.raises(DataMismatchError, match=re.escape("[1, 1, 5, 5]")):
        prepare_qat(fp32_model, wrong)


def test_a_sequential_subclass_without_forward_is_refused(items: dict[str, list[Item]]) -> None:
    class Plain(torch.nn.Sequential):
        pass

    with pytest.raises(ConfigError, match=r"Plain is an nn\.Sequential subclass"):
        prepare_qat(Plain(torch.nn.Flatten(), torch.nn.Linear(64, 10)), items["calibration"])


def test_the_extension_check_is_silent_once_built() -> None:
    messages: list[str] = []
    ensure_nncf_extension(messages.append)  # built by the fixtures above, or now
    assert ensure_nncf_extension(messages.append) == 0.0
    assert len(messages) <= 1


# ------------------------------------------------------------------------------------------ export_qat


@pytest.mark.cpu_class  # INT8 arithmetic differs by class: without VNNI it needs the overflow fix to agree
@pytest.mark.parametrize("method", ["trace", "onnx"])
def test_export_runs_int8_kernels_and_agrees_with_torch(
    qat_model: torch.nn.Module, items: dict[str, list[Item]], tmp_path: Path, method: Any
) -> None:
    path = tmp_path / "int8.xml"
    model = export_qat(qat_model, items["validation"][0][0], path, method=method)
    assert path.is_file() and path.with_suffix(".bin").is_file()
    assert not list(tmp_path.glob(".ovq-ir-*")), "no staging folder may stay behind"
    assert [list(port.get_partial_shape().to_shape()) for port in model.inputs] == [[1, 1, 8, 8]]
    assert qat_model.training, "export restores train mode"

    compiled = ov.Core().compile_model(str(path), "CPU")
    assert sorted(set(int8_compute_layers(compiled))) == ["Convolution", "FullyConnected"]
    validation = items["validation"][:64]
    ov_out = np.concatenate([compiled(x)[0] for x, _ in validation])
    with torch.no_grad():
        torch_out = qat_model.eval()(torch.from_numpy(np.concatenate([x for x, _ in validation]))).numpy()
    qat_model.train()
    assert np.mean(ov_out.argmax(1) == torch_out.argmax(1)) >= 0.95
    assert np.max(np.abs(ov_out - torch_out)) < 0.1 * np.max(np.abs(torch_out))


def test_export_refuses_a_module_without_quantizers(fp32_model: torch.nn.Module) -> None:
    with pytest.raises(ConfigError, match="no NNCF quantizers"):
        export_qat(fp32_model, np.zeros((1, 1, 8, 8), np.float32))


# ------------------------------------------------------------------------------------------ checkpoints


def test_a_checkpoint_resumes_exactly_where_it_left_off(
    qat_model: torch.nn.Module, items: dict[str, list[Item]], tmp_path: Path
) -> None:
    import copy

    model = copy.deepcopy(qat_model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = list(batches(items["train"], 32))[:2]
    for inputs, targets in batch[:1]:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    path = save_qat_checkpoint(model, tmp_path / "ckpt.pt", optimizer=optimizer, extra={"epoch": 3})
    assert torch.load(path, weights_only=True)["format"] == "ovq-qat-checkpoint"  # safe loading works

    restored = load_qat_checkpoint(path, tiny_cnn)
    assert restored.extra == {"epoch": 3}
    resumed_optimizer = torch.optim.Adam(restored.module.parameters(), lr=1e-3)
    restored.restore_optimizer(resumed_optimizer)
    for trainee, opt in ((model, optimizer), (restored.module, resumed_optimizer)):
        trainee.train()
        inputs, targets = batch[1]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(trainee(inputs), targets).backward()
        opt.step()
    for key, value in model.state_dict().items():
        assert torch.allclose(value.float(), restored.module.state_dict()[key].float()), key


def test_checkpoint_errors_say_what_is_wrong(qat_model: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        load_qat_checkpoint(tmp_path / "missing.pt", tiny_cnn)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFormatError):
        load_qat_checkpoint(garbage, tiny_cnn)
    plain = tmp_path / "plain.pt"
    torch.save(tiny_cnn().state_dict(), plain)
    with pytest.raises(ModelFormatError, match="not an ovq QAT checkpoint"):
        load_qat_checkpoint(plain, tiny_cnn)
    path = save_qat_checkpoint(qat_model, tmp_path / "ckpt.pt")
    with pytest.raises(ConfigError, match="does not fit"):
        load_qat_checkpoint(path, lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1)))


# ------------------------------------------------------------------------------------------ helpers


def test_batches_concatenate_items_and_shuffle_reproducibly(items: dict[str, list[Item]]) -> None:
    sizes = [len(t) for _, t in batches(items["train"][:70], 32)]
    assert sizes == [32, 32, 6]
    first = [t.tolist() for _, t in batches(items["train"], 32, generator=torch.Generator().manual_seed(1))]
    again = [t.tolist() for _, t in batches(items["train"], 32, generator=torch.Generator().manual_seed(1))]
    assert first == again != [t.tolist() for _, t in batches(items["train"], 32)]


def test_built_in_losses_and_unknown_names() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert resolve_loss("cross_entropy")(logits, torch.tensor([0, 1])).item() < 0.2
    assert resolve_loss("mse")(logits, torch.tensor([[2.0, 0.0], [0.0, 2.0]])).item() == 0.0
    with pytest.raises(ConfigError, match="unknown loss 'hinge'"):
        resolve_loss("hinge")


# ------------------------------------------------------------------------------------------ train_qat


def run(fp32_model: torch.nn.Module, items: dict[str, list[Item]], **options: Any) -> Any:
    settings: dict[str, Any] = {
        "train_data": items["train"],
        "validation_data": items["validation"],
        "calibration_data": items["calibration"],
        "subset_size": 64,
        "reference": 0.9,
        "torch_threads": 1,
        **options,
    }
    return train_qat(fp32_model, **settings)


def test_train_qat_stops_before_training_when_calibration_already_meets_the_budget(
    fp32_model: torch.nn.Module, items: dict[str, list[Item]]
) -> None:
    result = run(fp32_model, items, reference=None, max_drop=0.05)
    assert 0.8 < result.reference <= 1.0  # measured in OpenVINO at f32
    assert result.budget_held and result.best_epoch == 0 and result.steps == 0
    assert "no training needed" in result.stop_reason
    assert isinstance(result.model, ov.Model)
    assert result.to_dict()["history"][0]["metric"] == result.value


def test_train_qat_fails_closed_with_its_history(
    fp32_model: torch.nn.Module, items: dict[str, list[Item]], tmp_path: Path
) -> None:
    events: list[QatProgress] = []
    with pytest.raises(QatBudgetError) as caught:
        run(fp32_model, items, max_drop=-1.0, epochs=2, max_steps=3, progress=events.append)
    error = caught.value
    assert isinstance(error, AccuracyBudgetError) and error.exit_code == 4
    assert "did not meet the budget" in error.message
    assert [row.epoch for row in error.history] == [0, 1]  # max_steps spent inside epoch 1
    assert error.history[-1].steps == 3 and error.result.model is None
    assert error.details is not None and error.details["budget_held"] is False
    phases = [event.phase for event in events]
    assert phases[0] == "prepare" and phases.count("train") == 3 and phases.count("evaluate") == 2
    assert events[1].steps_per_epoch == math.ceil(256 / 32)


def test_train_qat_resumes_a_run_from_its_checkpoints(
    fp32_model: torch.nn.Module, items: dict[str, list[Item]], tmp_path: Path
) -> None:
    with pytest.raises(QatBudgetError) as first:
        run(fp32_model, items, max_drop=-1.0, epochs=1, checkpoint_dir=tmp_path, learning_rate=1e-3)
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    with pytest.raises(QatBudgetError) as resumed:
        run(
            fp32_model,
            items,
            max_drop=-1.0,
            epochs=2,
            checkpoint_dir=tmp_path,
            resume=True,
            learning_rate=1e-3,
        )
    history = resumed.value.history
    assert [row.epoch for row in history] == [0, 1, 2]
    assert history[:2] == first.value.history
    assert history[2].steps == 2 * math.ceil(256 / 32)


def test_train_qat_calls_a_train_fn_per_epoch_and_can_measure_in_torch(
    fp32_model: torch.nn.Module, items: dict[str, list[Item]]
) -> None:
    calls: list[int] = []

    def my_training(model: torch.nn.Module) -> torch.nn.Module:
        calls.append(quantizer_count(model))
        return model

    with pytest.raises(QatBudgetError) as caught:
        run(fp32_model, items, max_drop=-1.0, epochs=2, train_fn=my_training, evaluate_with="torch")
    assert len(calls) == 2 and all(calls)
    history = caught.value.history
    assert all(isinstance(row.torch_metric, float) and 0.0 <= row.torch_metric <= 1.0 for row in history)
    # The last epoch is confirmed in OpenVINO: a real top-1 there too.
    assert isinstance(history[-1].metric, float) and 0.0 <= history[-1].metric <= 1.0
    assert caught.value.result.evaluated_with == "torch, confirmed in openvino"


def test_train_qat_rejects_bad_settings_before_preparing(
    fp32_model: torch.nn.Module, items: dict[str, list[Item]]
) -> None:
    with pytest.raises(ConfigError, match="unknown optimizer 'adagrad'"):
        run(fp32_model, items, max_drop=0.01, optimizer="adagrad")
    with pytest.raises(ConfigError, match="max_steps cannot limit a train_fn"):
        run(fp32_model, items, max_drop=0.01, train_fn=lambda m: m, max_steps=3)
    with pytest.raises(ConfigError, match="unknown metric 'top5'"):
        run(fp32_model, items, max_drop=0.01, metric="top5")


# ------------------------------------------------------------------------------------------ docs


def test_the_how_to_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / "docs" / "how-to" / "qat-from-training-code.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "qat_how_to"}
    threads = torch.get_num_threads()
    try:
        exec(compile("\n".join(blocks), "qat-from-training-code.md", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)  # the example sets it for itself, not for the tests after it
    assert (tmp_path / "digits_int8.xml").is_file() and (tmp_path / "digits_int8_driver.xml").is_file()
    assert namespace["int8_accuracy"] > 0.9 and namespace["result"].budget_held
