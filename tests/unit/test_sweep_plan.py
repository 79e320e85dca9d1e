"""The sweep plan: dotted-path overrides checked against the schema before anything runs; the Pareto front."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ovq.cli.app import app
from ovq.config.schema import load_pipeline
from ovq.errors import ConfigError
from ovq.sweep.plan import apply_overrides, plan_sweep
from ovq.sweep.spec import load_sweep
from ovq.sweep.summary import best_per_model, pareto_front
from tests.sweep_helpers import EIGHT_RUNS, write_sweep, write_tiny_pipeline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_pipeline(tmp_path_factory.mktemp("plan"))


def override(pipeline: Path, overrides: dict[str, object]):  # type: ignore[no-untyped-def]
    config, _ = load_pipeline(pipeline)
    return apply_overrides(yaml.safe_load(pipeline.read_text()), config, overrides, where="tiny.yaml")


def test_grid_expands_to_every_combination_with_its_overrides(pipeline: Path, tmp_path: Path) -> None:
    spec, folder = load_sweep(write_sweep(pipeline.parent, EIGHT_RUNS, pipelines=[pipeline.name]))
    tasks = plan_sweep(spec, folder, tmp_path)
    assert len(tasks) == 8
    assert len({task.run_dir for task in tasks}) == 8
    presets = [task.config["stages"][1].get("preset") for task in tasks]
    assert presets == ["performance"] * 4 + ["mixed"] * 4
    assert {task.config["stages"][2]["hint"] for task in tasks} == {"latency", "throughput"}
    assert all(task.whole_node for task in tasks)  # every run benchmarks: each needs a node to itself


def test_overrides_reach_stages_by_kind_name_or_position_and_nested_blocks(pipeline: Path) -> None:
    config = override(
        pipeline,
        {
            "stages.int8.subset_size": 5,
            "stages.2.hint": "throughput",
            "stages.quantize.ignored_scope.types": ["MatMul"],
            "budget.metrics.top1.max_drop": 0.1,
            "datasets.data.limit": 4,
        },
    )
    quantize = config.stages[1]
    assert quantize.subset_size == 5 and quantize.ignored_scope.types == ["MatMul"]  # type: ignore[union-attr]
    assert config.stages[2].hint == "throughput"  # type: ignore[union-attr]
    assert config.budget is not None and config.budget.metrics["top1"].max_drop == 0.1
    assert config.datasets["data"].limit == 4


def test_a_model_override_replaces_the_model_source(pipeline: Path) -> None:
    config = override(pipeline, {"model.onnx": "other.onnx"})
    assert config.model.kind == "onnx" and config.model.ir is None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("stages.quantise.preset", "no stage 'quantise'"),
        ("stages.quantize.presett", "did you mean 'preset'"),
        ("datasets.nope.limit", "no entry 'nope'"),
        ("stages.compile", "name a stage and one of its fields"),
        ("modell.onnx", "has no field 'modell'"),
        ("stages.9.hint", "has 5 stages"),
        ("stages.compile.hint.x", "is a value"),
    ],
)
def test_an_override_that_matches_nothing_is_a_config_error(pipeline: Path, path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        override(pipeline, {path: 1})


def test_a_bad_override_value_is_a_config_error_naming_the_field(pipeline: Path) -> None:
    with pytest.raises(ConfigError, match=r"stages\[1\]\.preset"):
        override(pipeline, {"stages.quantize.preset": "fastest"})


def test_cli_rejects_a_bad_path_with_exit_2_before_running_anything(pipeline: Path, tmp_path: Path) -> None:
    sweep = write_sweep(
        pipeline.parent, {"stages.quantize.preset": ["mixed"], "stages.quantize.nope": [1]}, pipelines=[pipeline.name]
    )
    result = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "stages.quantize.nope" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_rejects_an_unknown_executor(pipeline: Path, tmp_path: Path) -> None:
    sweep = write_sweep(pipeline.parent, {"stages.quantize.preset": ["mixed"]}, pipelines=[pipeline.name])
    result = CliRunner().invoke(app, ["sweep", str(sweep), "--executor", "dask", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "dask" in result.output


def test_pareto_front_keeps_only_points_nothing_beats_on_both_axes() -> None:
    points = [
        {"accuracy": 0.9, "throughput_fps": 100.0, "higher_is_better": True},
        {"accuracy": 0.8, "throughput_fps": 300.0, "higher_is_better": True},
        {"accuracy": 0.8, "throughput_fps": 200.0, "higher_is_better": True},  # beaten by the one above
        {"accuracy": 0.95, "throughput_fps": 50.0, "higher_is_better": True},
        {"accuracy": 0.85, "throughput_fps": 90.0, "higher_is_better": True},  # beaten by the first
    ]
    assert pareto_front(points) == [0, 1, 3]


def test_best_per_model_is_the_fastest_variant_within_its_budget() -> None:
    def point(variant: str, fps: float, met: bool | None) -> dict[str, object]:
        return {
            "variant": variant,
            "baseline": False,
            "throughput_fps": fps,
            "accuracy": 0.9,
            "metric": "top1",
            "higher_is_better": True,
            "budget_met": met,
        }

    runs = [
        {
            "run_id": "001",
            "label": "a",
            "model": "m",
            "status": "succeeded",
            "machine": "x",
            "variants": [point("fp32", 100, True), point("int8", 400, False)],
        },
        {
            "run_id": "002",
            "label": "b",
            "model": "m",
            "status": "succeeded",
            "machine": "x",
            "variants": [point("fp32", 110, True), point("int8", 300, True)],
        },
        {
            "run_id": "003",
            "label": "c",
            "model": "m",
            "status": "failed",
            "machine": "x",
            "variants": [point("int8", 900, True)],
        },
    ]
    best = best_per_model(runs)["m"]
    assert (best["run_id"], best["variant"], best["budget"]) == ("002", "int8", "met")


def test_two_runs_the_unpaired_interval_cannot_tell_apart_go_to_the_tie_rule() -> None:
    def point(variant: str, runs: list[float], size: int) -> dict[str, object]:
        return {
            "variant": variant, "precision": variant, "baseline": False, "throughput_fps": sorted(runs)[len(runs) // 2],
            "throughput_fps_runs": runs, "accuracy": 0.9, "metric": "top1", "higher_is_better": True,
            "budget_met": True, "size_bytes": size,
        }  # fmt: skip

    def run(run_id: str, *variants: dict[str, object]) -> dict[str, object]:
        return {"run_id": run_id, "label": run_id, "model": "m", "status": "succeeded", "machine": "x",
                "variants": list(variants)}  # fmt: skip

    # int8_weights in run 002 measured a hair faster than int8 in run 001: a tie, and int8 is the smaller.
    runs = [
        run(
            "001",
            point("fp32", [50.0, 51.0, 49.0, 50.5, 49.5], 4000),
            point("int8", [100.0, 101.0, 99.0, 100.5, 99.5], 1000),
        ),
        run("002", point("int8_weights", [101.0, 102.0, 99.5, 100.5, 101.5], 1500)),
    ]
    best = best_per_model(runs)["m"]
    assert (best["run_id"], best["variant"]) == ("001", "int8")
    assert best["rule"] == "tied with the fastest; smaller" and "unpaired" in best["tie"]
    assert best["tied_with"] == "int8_weights of run 002"
    # A difference the unpaired interval proves is no tie.
    runs[1]["variants"] = [point("int8_weights", [150.0, 151.0, 149.0, 150.5, 149.5], 1500)]
    assert best_per_model(runs)["m"]["variant"] == "int8_weights"


def test_the_example_sweep_file_plans_eight_runs(repo: Path, tmp_path: Path) -> None:
    spec, folder = load_sweep(repo / "pipelines" / "sweeps" / "digits_grid.yaml")
    tasks = plan_sweep(spec, folder, tmp_path)
    assert len(tasks) == 8
    assert all(task.config["stages"][-1]["duration_s"] == 2 for task in tasks)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A typo is listed against the sweep file's own fields, not a pipeline's.
        ("name: s\npipelines: [p.yaml]\ngird: {}\n", "gird: unknown field; did you mean 'grid'? allowed: collect"),
        # The pipeline files' YAML dialect: the second of two equal keys is refused, not silently kept.
        ("name: s\npipelines: [p.yaml]\nname: t\n", "line 3: duplicate key 'name' (first given on line 1)"),
    ],
)
def test_a_bad_sweep_file_is_one_config_error_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_sweep(path)
