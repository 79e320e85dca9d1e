"""The optimize search on a real tiny model: it keeps what holds the budget and the SLA, and fails closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ovq.compression.budget import Budget
from ovq.inputs.metrics import Metric, mse, top1
from ovq.search.optimize import NothingHoldsError, optimize
from ovq.search.settings import LatencySla, RuntimeSetting, parse_sla
from tests.cpu import PLUGIN_DEFAULT

TOP1 = Metric("top1", top1, True, "labels")
FAST = {"duration_s": 0.3, "repeats": 2}
SETTINGS = [RuntimeSetting("throughput"), RuntimeSetting("latency")]


@pytest.fixture(scope="module")
def outlier() -> dict[str, Any]:
    import openvino as ov
    import torch

    from tests.tiny_models import digits_outlier_mlp

    module, calibration, validation = digits_outlier_mlp()
    model = ov.convert_model(module, example_input=torch.zeros(1, 64))
    model.reshape([1, 64])
    return {"model": model, "calibration": calibration[:100], "validation": validation[:150]}


def test_the_chosen_point_holds_budget_and_sla_and_nothing_faster_does(outlier: dict[str, Any]) -> None:
    result = optimize(
        outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
        sla=LatencySla(max_ms=1000.0), candidates=["default", "int8", "mixed_precision"], settings=SETTINGS, **FAST,
    )  # fmt: skip
    records = {record.name: record for record in result.candidates}
    assert records["default"].status == "holds"
    assert records["int8"].status == "misses budget"  # the outlier quantizer
    assert records["mixed_precision"].status in ("holds", "pruned")
    if records["mixed_precision"].status == "pruned":
        assert "speed bound" in records["mixed_precision"].reason
    chosen = next(e for e in result.front if e.variant == result.variant and e.setting == result.setting.to_dict())
    assert chosen.holds_budget and chosen.holds_sla
    measured = [e for e in result.front if e.throughput_fps is not None and e.note != "screening measurement"]
    faster = [e for e in measured if e.throughput_fps > chosen.throughput_fps and e.holds_budget and e.holds_sla]
    if faster:  # only by a tie: the chosen point is not proven slower than the fastest, and is smaller/simpler
        assert chosen.vs_fastest is not None and chosen.vs_fastest["verdict"] != "slower", chosen
        assert "tied with the fastest" in chosen.note and "tied with the fastest" in result.reason
    # Every other point measured with the fastest carries its paired comparison with it.
    fastest = max((e for e in measured if e.holds_budget and e.holds_sla), key=lambda e: e.throughput_fps)
    assert all(e.vs_fastest is not None for e in measured if e is not fastest and e.holds_budget and e.holds_sla)
    assert result.variant in result.reason and "SLA" in result.reason

    from ovq.report.optimize_section import optimize_lines
    from ovq.search.front_plot import front_svg

    story = result.to_dict()
    text = "\n".join(optimize_lines({"stages": [{"name": "optimize", "details": {"optimize": story}}]}))
    assert f"Chosen: **{result.variant} @ {result.setting.label}**" in text and "Measured front" in text
    svg = front_svg(story)
    assert svg is not None and svg.startswith("<svg") and "throughput" in svg


def test_an_sla_nothing_meets_fails_closed_with_the_front(outlier: dict[str, Any]) -> None:
    with pytest.raises(NothingHoldsError) as raised:
        optimize(
            outlier["model"], outlier["calibration"], outlier["validation"], Budget(TOP1, 0.03),
            sla=LatencySla(max_ms=1e-4), candidates=["default"], settings=SETTINGS, **FAST,
        )  # fmt: skip
    assert raised.value.exit_code == 4 and "SLA" in raised.value.message
    assert {entry["holds_sla"] for entry in raised.value.details["front"]} == {False}


@pytest.mark.cpu_class
def test_a_budget_nothing_meets_fails_closed(outlier: dict[str, Any]) -> None:
    impossible = Budget(Metric("mse", mse, False, "reference"), 0.0)
    # Where the plugin's default is f32, the default *is* FP32 and holds a zero-MSE budget: only the
    # compressed candidates can all miss it there. Where it is bf16, the default misses it too.
    candidates = ["int8", "weights_int8"] + (["default"] if PLUGIN_DEFAULT != "f32" else [])
    with pytest.raises(NothingHoldsError) as raised:
        optimize(
            outlier["model"], outlier["calibration"], outlier["validation"][:40], impossible,
            candidates=candidates, settings=SETTINGS, **FAST,
        )  # fmt: skip
    assert raised.value.exit_code == 4
    statuses = {c["name"]: c["status"] for c in raised.value.details["candidates"]}
    assert {statuses[name] for name in candidates} == {"misses budget"}


@pytest.mark.cpu_class
def test_the_f32_default_holds_a_zero_drop_budget_exactly_where_the_default_is_f32(outlier: dict[str, Any]) -> None:
    impossible = Budget(Metric("mse", mse, False, "reference"), 0.0)
    try:
        result = optimize(
            outlier["model"], outlier["calibration"], outlier["validation"][:40], impossible,
            candidates=["default"], settings=SETTINGS[:1], **FAST,
        )  # fmt: skip
    except NothingHoldsError:
        assert PLUGIN_DEFAULT != "f32"  # bf16 differs from f32: the default cannot hold a zero drop
    else:
        assert PLUGIN_DEFAULT == "f32" and result.variant == "default"


def test_sla_text() -> None:
    assert parse_sla("p99<=15ms") == LatencySla(15.0, 99)
    assert parse_sla("p90 <= 2.5") == LatencySla(2.5, 90)
    assert parse_sla("8") == LatencySla(8.0, 99)
    from ovq.errors import ConfigError

    with pytest.raises(ConfigError, match="not understood") as raised:
        parse_sla("fast please")
    assert raised.value.hint is not None and "p99<=15ms" in raised.value.hint


def test_cli_optimize_exits_4_when_nothing_holds(tmp_path: Path) -> None:
    import numpy as np

    from ovq.cli.app import app
    from tests.tiny_models import digits_outlier_mlp

    _, calibration, _ = digits_outlier_mlp()
    data = tmp_path / "digits.npz"
    np.savez(data, inputs=np.concatenate([x for x, _ in calibration[:40]]), labels=[y for _, y in calibration[:40]])
    factory = f"{Path(__file__).resolve().parents[1] / 'tiny_models.py'}:digits_outlier_mlp_module"
    result = CliRunner().invoke(
        app,
        # An SLA no deployment meets: nothing holds on any CPU class (where the default is f32, FP32 itself
        # holds a zero-MSE budget, so the budget alone would not fail closed there).
        [
            "optimize",
            factory,
            "--data",
            str(data),
            "--budget",
            "mse=0",
            "--sla",
            "p99<=0.00001ms",
            "--no-qat",
            "-o",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 4, result.output
    assert (tmp_path / "run" / "pipeline.yaml").is_file()
    assert (tmp_path / "run" / "report.json").is_file()


def test_the_tie_rule_picks_the_smaller_of_two_points_the_interval_cannot_tell_apart(
    outlier: dict[str, Any], tmp_path: Path
) -> None:
    import openvino as ov

    from ovq.search.optimize import FrontEntry, _tie_ruled, _weight_bytes

    def point(variant: str, runs: list[float]) -> FrontEntry:
        setting = RuntimeSetting("throughput").to_dict()
        return FrontEntry(variant, setting, max(runs), None, None, True, None, False, throughput_fps_runs=runs)

    ov.save_model(outlier["model"], tmp_path / "half.xml", compress_to_fp16=True)  # f16 weights: half the bytes
    models = {"default": outlier["model"], "half": ov.Core().read_model(tmp_path / "half.xml")}
    assert _weight_bytes(models["half"]) < _weight_bytes(models["default"])
    # default measured a hair faster, but the interval calls it a tie: the smaller model is chosen.
    tied = [point("default", [101.0, 99.0, 100.5, 100.0, 99.6]), point("half", [100.0, 98.2, 99.1, 100.3, 99.4])]
    chosen = _tie_ruled(tied, models)
    assert chosen.variant == "half" and "tied with the fastest, default" in chosen.note
    assert chosen.vs_fastest is not None and chosen.vs_fastest["verdict"] in ("tie", "undecided")
    # A difference the interval proves is no tie.
    clear = [point("default", [130.0, 131.0, 129.5, 130.2, 130.6]), point("half", [100.0, 100.2, 99.1, 100.3, 99.8])]
    assert _tie_ruled(clear, models).variant == "default"
    assert clear[1].vs_fastest is not None and clear[1].vs_fastest["verdict"] == "slower"
