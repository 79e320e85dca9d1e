# ruff: noqa: E501  (tables: one case per line reads better than wrapped rows)
"""The robustness cases, generated from tables: bad inputs and faults, and what ovq must answer to each.

Every case builds its files in a fresh folder, runs one `ovq` command and states the exit code and a piece
of the one-line error message. tests/robustness/test_robustness.py runs them all; render_doc.py turns the
same list into docs/reference/robustness.md. Add a row to a table, not a test function.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests import tiny_models

USER_CODE = Path(__file__).resolve().parent / "user_code.py"
TINY = Path(tiny_models.__file__).resolve()
DELETE = object()


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    run_dir: Path | None = None  # where a run would write (checked for half-written artifacts)
    cwd_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    what: str
    exit_code: int
    message: str  # a piece of the error line (or, for exit 0, of a warning the report must hold)
    setup: Callable[[Path], Invocation]
    xfail: str | None = None  # reason, for a problem another branch fixes
    report_check: Callable[[dict[str, Any]], bool] | None = None  # extra check on report.json (exit-0 cases)


# ------------------------------------------------------------------------------------------ pipelines


def valid_config() -> dict[str, Any]:
    """A complete pipeline that validates; each validate case breaks one thing in it."""
    return {
        "name": "robust",
        "model": {"factory": f"{TINY}:tiny_cnn"},
        "datasets": {"calibration": {"path": "calib.npz"}, "validation": {"path": "calib.npz"}},
        "metrics": {"top1": {"function": "top1"}},
        "budget": {"dataset": "validation", "metrics": {"top1": {"max_drop": 0.5}}},
        "stages": [
            {"stage": "export"},
            {"stage": "quantize", "dataset": "calibration", "subset_size": 8},
            {"stage": "compile"},
            {"stage": "evaluate", "dataset": "validation"},
            {"stage": "benchmark", "iterations": 5},
        ],
    }


def run_config() -> dict[str, Any]:
    """The cheapest pipeline that runs a model end to end: export, compile, evaluate (no calibration)."""
    return {
        "name": "robust-run",
        "model": {"factory": f"{USER_CODE}:good_model"},
        "datasets": {"validation": {"path": "data.npz"}},
        "metrics": {"top1": {"function": "top1"}},
        "stages": [{"stage": "export"}, {"stage": "compile"}, {"stage": "evaluate", "dataset": "validation"}],
    }


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = config
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def _edit(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(base)
    for path, value in changes.items():
        _set(config, path, value)
    return config


def write_npz(
    folder: Path, name: str = "data.npz", *, poison: Any = None, dtype: Any = np.float32, count: int = 8
) -> Path:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((count, *tiny_models.INPUT_SHAPE[1:])).astype(dtype)
    if poison is not None:
        inputs[min(3, count - 1), 1, 2, 3] = poison
    path = folder / name
    np.savez(path, inputs=inputs, labels=rng.integers(0, 4, count))
    return path


def validate_case(changes: dict[str, Any]) -> Callable[[Path], Invocation]:
    def setup(tmp: Path) -> Invocation:
        path = tmp / "pipeline.yaml"
        path.write_text(yaml.safe_dump(_edit(valid_config(), changes), sort_keys=False))
        return Invocation(["pipeline", "validate", str(path)])

    return setup


def validate_text(content: str | bytes, *, name: str = "pipeline.yaml") -> Callable[[Path], Invocation]:
    def setup(tmp: Path) -> Invocation:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return Invocation(["pipeline", "validate", str(path)])

    return setup


def run_case(
    changes: dict[str, Any] | None = None,
    *,
    data: Callable[[Path], Any] | None = None,
    options: Callable[[Path], list[str]] | None = None,
    env: Callable[[Path], dict[str, str]] | None = None,
    base: Callable[[], dict[str, Any]] = run_config,
) -> Callable[[Path], Invocation]:
    """A `pipeline run` of run_config() with changes; data(tmp) writes the data files (default: good data)."""

    def setup(tmp: Path) -> Invocation:
        (data or write_npz)(tmp)
        path = tmp / "pipeline.yaml"
        path.write_text(yaml.safe_dump(_edit(base(), changes or {}), sort_keys=False))
        run_dir = tmp / "run"
        extra = options(tmp) if options else ["-o", str(run_dir)]
        return Invocation(["pipeline", "run", str(path), "-q", *extra], env=env(tmp) if env else {}, run_dir=run_dir)

    return setup


def _file(tmp: Path, name: str, content: bytes = b"x") -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _with_dir(setup: Callable[[Path], Invocation], name: str) -> Callable[[Path], Invocation]:
    def wrapped(tmp: Path) -> Invocation:
        (tmp / name).mkdir()
        return setup(tmp)

    return wrapped


# ------------------------------------------------------------------------------------------ tables

CASES: list[Case] = []


def _add(group: str, rows: list[tuple[Any, ...]], make: Callable[..., Case]) -> None:
    for row in rows:
        CASES.append(make(group, *row))


# Booleans where integers go: strict types, `true` is not 1.
BOOL_FOR_INT = [
    "stages.1.subset_size",
    "stages.4.iterations",
    "stages.4.warmup_iterations",
    "stages.4.repeats",
    "stages.4.num_requests",
    "stages.2.num_requests",
    "stages.2.num_threads",
    "datasets.calibration.batch_size",
    "datasets.calibration.limit",
]
_add(
    "config: types",
    [(f"bool-for-int-{p.replace('.', '-')}", p) for p in BOOL_FOR_INT],
    lambda group, case_id, path: Case(
        case_id,
        group,
        f"`{path.split('.')[-1]}: true`",
        2,
        f"{path.split('.')[-1]}: Input should be a valid integer (got True, a bool)",
        validate_case({path: True}),
    ),
)
# Strings and floats where integers go.
_add(
    "config: types",
    [
        ("string-for-int-subset-size", "stages.1.subset_size", "300", "valid integer (got '300', a str)"),
        ("float-for-int-iterations", "stages.4.iterations", 2.5, "valid integer (got 2.5, a float)"),
        ("string-for-float-max-drop", "budget.metrics.top1.max_drop", "0.01", "valid number (got '0.01', a str)"),
        ("list-for-str-name", "name", ["a", "b"], "name: Input should be a valid string"),
        ("number-for-str-dataset", "stages.1.dataset", 3, "valid string (got 3, a int)"),
        ("mapping-for-list-stages", "stages", {"stage": "export"}, "stages: Input should be a valid list"),
        ("string-for-bool-fast-bias", "stages.1.fast_bias_correction", "yes", "valid boolean (got 'yes', a str)"),
    ],
    lambda group, case_id, path, value, message: Case(
        case_id, group, f"`{path.split('.')[-1]}: {value!r}`", 2, message, validate_case({path: value})
    ),
)
# Infinite and NaN numbers: `duration_s: .inf` would benchmark forever.
_add(
    "config: non-finite numbers",
    [
        ("inf-duration", "stages.4", {"stage": "benchmark", "duration_s": float("inf")}, "duration_s"),
        ("neg-inf-duration", "stages.4", {"stage": "benchmark", "duration_s": float("-inf")}, "duration_s"),
        ("nan-duration", "stages.4", {"stage": "benchmark", "duration_s": float("nan")}, "duration_s"),
        ("inf-iterations", "stages.4.iterations", float("inf"), "iterations"),
        ("inf-noisy-threshold", "stages.4.noisy_threshold", float("inf"), "noisy_threshold"),
        ("nan-max-drop", "budget.metrics.top1.max_drop", float("nan"), "max_drop"),
        ("inf-max-drop", "budget.metrics.top1.max_drop", float("inf"), "max_drop"),
    ],
    lambda group, case_id, path, value, field_name: Case(
        case_id,
        group,
        f"{field_name} not finite",
        2,
        f"{field_name}: Input should be a finite number"
        if "iterations" not in case_id
        else "iterations: Input should be a valid integer",
        validate_case({path: value}),
    ),
)
# Out-of-range values.
_add(
    "config: ranges",
    [
        ("zero-subset-size", "stages.1.subset_size", 0, "subset_size: Input should be greater than or equal to 1"),
        ("negative-subset-size", "stages.1.subset_size", -5, "subset_size: Input should be greater than or equal to 1"),
        ("zero-iterations", "stages.4.iterations", 0, "iterations: Input should be greater than or equal to 1"),
        ("zero-repeats", "stages.4.repeats", 0, "repeats: Input should be greater than or equal to 1"),
        ("negative-warmup", "stages.4.warmup_iterations", -1, "warmup_iterations: Input should be greater than"),
        ("zero-batch-size", "datasets.calibration.batch_size", 0, "batch_size: Input should be greater than"),
        ("zero-limit", "datasets.calibration.limit", 0, "limit: Input should be greater than or equal to 1"),
        ("negative-max-drop", "budget.metrics.top1.max_drop", -0.1, "max_drop: Input should be greater than"),
        ("zero-threads", "stages.2.num_threads", 0, "num_threads: Input should be greater than or equal to 1"),
        ("zero-noisy-threshold", "stages.4.noisy_threshold", 0, "noisy_threshold: Input should be greater than 0"),
    ],
    lambda group, case_id, path, value, message: Case(
        case_id, group, f"`{path.split('.')[-1]}: {value}`", 2, message, validate_case({path: value})
    ),
)
# Values outside an enumeration.
_add(
    "config: enumerations",
    [
        ("bad-hint", "stages.2.hint", "fast", "hint: Input should be 'latency', 'throughput'"),
        ("bad-precision", "stages.2.inference_precision", "fp32", "inference_precision: Input should be 'f32'"),
        ("bad-preset", "stages.1.preset", "perf", "preset: Input should be 'performance' or 'mixed'"),
        ("bad-model-type", "stages.1.model_type", "cnn", "model_type: Input should be 'transformer'"),
        ("bad-granularity", "stages.1.weights_granularity", "per_row", "weights_granularity: Input should be"),
        ("bad-api", "stages.4.api", "both", "api: Input should be 'async' or 'sync'"),
        ("bad-dynamic-shapes", "stages.0.dynamic_shapes", "static", "dynamic_shapes: Input should be 'reshape'"),
        ("bad-drop-type", "budget.metrics.top1.drop_type", "percent", "drop_type: Input should be 'absolute'"),
        ("bad-select", "budget.select", "best", "budget.select: Input should be 'fastest' or 'smallest'"),
        (
            "bad-against",
            "metrics.top1.against",
            "fp32",
            "against: Input should be 'labels', 'reference' or 'none'",
        ),
        ("bad-baseline-kind", "stages.4.baselines", ["tensorflow"], "baselines[0]: Input should be 'pytorch_eager'"),
        (
            "bad-streams-word",
            "stages.2.num_streams",
            "many",
            "num_streams: Input should be a valid integer or 'auto' (got 'many', a str)",
        ),
        (
            "bool-streams",
            "stages.2.num_streams",
            True,
            "num_streams: Input should be a valid integer or 'auto' (got True, a bool)",
        ),
    ],
    lambda group, case_id, path, value, message: Case(
        case_id, group, f"`{path.split('.')[-1]}: {value}`", 2, message, validate_case({path: value})
    ),
)
# Unknown fields (typos): named with the allowed ones.
_add(
    "config: unknown fields",
    [
        ("typo-top-level", "stage", [], "stage: unknown field; did you mean 'stages'?"),
        ("typo-model", "model.factroy", "x.py:f", "model.factroy: unknown field; did you mean 'factory'?"),
        (
            "typo-dataset",
            "datasets.calibration.pth",
            "x.npz",
            "datasets.calibration.pth: unknown field; did you mean 'path'?",
        ),
        ("typo-metric", "metrics.top1.fn", "top1", "metrics.top1.fn: unknown field"),
        ("typo-budget", "budget.max_drop", 0.1, "budget.max_drop: unknown field"),
        (
            "typo-export",
            "stages.0.input_shape",
            [[1, 3, 16, 16]],
            "stages[0].input_shape: unknown field; did you mean 'input_shapes'?",
        ),
        ("typo-quantize", "stages.1.subset", 8, "stages[1].subset: unknown field; did you mean 'subset_size'?"),
        ("typo-compile", "stages.2.hints", "latency", "stages[2].hints: unknown field; did you mean 'hint'?"),
        ("typo-evaluate", "stages.3.metric", ["top1"], "stages[3].metric: unknown field; did you mean 'metrics'?"),
        ("typo-benchmark", "stages.4.duration", 5, "stages[4].duration: unknown field; did you mean 'duration_s'?"),
        ("typo-budget-metric", "budget.metrics.top1.maxdrop", 0.1, "unknown field; did you mean 'max_drop'?"),
    ],
    lambda group, case_id, path, value, message: Case(
        case_id, group, f"unknown `{path.split('.')[-1]}`", 2, message, validate_case({path: value})
    ),
)
# Names that point nowhere, and code references that are not references.
_add(
    "config: references",
    [
        (
            "undefined-calibration",
            {"stages.1.dataset": "calib"},
            "stages[1] (quantize).dataset: 'calib' is not defined",
        ),
        (
            "undefined-evaluate-dataset",
            {"stages.3.dataset": "val"},
            "stages[3] (evaluate).dataset: 'val' is not defined",
        ),
        ("undefined-benchmark-dataset", {"stages.4.dataset": "bench"}, "(benchmark).dataset: 'bench' is not defined"),
        ("undefined-budget-dataset", {"budget.dataset": "test"}, "budget.dataset: 'test' is not defined"),
        (
            "undefined-budget-metric",
            {"budget.metrics": {"top5": {"max_drop": 0.1}}},
            "budget.metrics: 'top5' is not defined",
        ),
        ("undefined-evaluate-metric", {"stages.3.metrics": ["f1"]}, "(evaluate).metrics: 'f1' is not defined"),
        ("unknown-builtin-metric", {"metrics.top1.function": "top5"}, "'top5' is neither a built-in metric"),
        (
            "unknown-variant-source",
            {"stages.1.source": "fp16"},
            "stages[1] (quantize).source: 'fp16' is not produced earlier",
        ),
        ("factory-no-colon", {"model.factory": "mypackage.models"}, "is not 'package.module:function'"),
        ("factory-empty-function", {"model.factory": "mypackage.models:"}, "is not 'package.module:function'"),
        ("factory-empty-module", {"model.factory": ":build"}, "is not 'package.module:function'"),
        (
            "factory-bad-function-name",
            {"model.factory": "pkg.models:build-net"},
            "function name 'build-net' is not a Python identifier",
        ),
        (
            "factory-bad-module-name",
            {"model.factory": "my package:build"},
            "'my package' is neither a dotted module name",
        ),
        (
            "dataset-factory-malformed",
            {"datasets.calibration": {"factory": "data loader:items"}},
            "datasets.calibration.factory",
        ),
        (
            "metric-malformed",
            {"metrics.top1.function": "metrics.py:1st"},
            "function name '1st' is not a Python identifier",
        ),
        ("metric-function-no-module", {"metrics.top1.function": "f1:"}, "metrics.top1.function: 'f1:' is not"),
    ],
    lambda group, case_id, changes, message: Case(
        case_id, group, ", ".join(f"{k}: {v}" for k, v in changes.items()), 2, message, validate_case(changes)
    ),
)
# Stage order and cross checks.
_STAGES = valid_config()["stages"]
_add(
    "config: structure",
    [
        ("export-not-first", {"stages": [_STAGES[1], _STAGES[0], *_STAGES[2:]]}, "stages[0] must be export"),
        (
            "two-exports",
            {"stages": [_STAGES[0], {"stage": "export", "name": "b"}, *_STAGES[1:]]},
            "export may appear only once",
        ),
        ("two-compiles", {"stages": [*_STAGES[:3], _STAGES[2], *_STAGES[3:]]}, "compile may appear only once"),
        (
            "quantize-after-compile",
            {"stages": [_STAGES[0], _STAGES[2], _STAGES[1], *_STAGES[3:]]},
            "compression must come before compile",
        ),
        (
            "evaluate-before-compile",
            {"stages": [_STAGES[0], _STAGES[1], _STAGES[3], _STAGES[2]]},
            "needs a compile stage before it",
        ),
        (
            "benchmark-before-compile",
            {"stages": [_STAGES[0], _STAGES[4], _STAGES[2]]},
            "needs a compile stage before it",
        ),
        ("duplicate-variant", {"stages": [*_STAGES[:2], _STAGES[1], *_STAGES[2:]]}, "variant 'int8' already exists"),
        ("no-stages", {"stages": DELETE}, "stages: Field required"),
        ("empty-stages", {"stages": []}, "stages: List should have at least 1 item"),
        ("stage-without-kind", {"stages.2": {"hint": "latency"}}, "missing 'stage:'"),
        ("unknown-stage-kind", {"stages.2": {"stage": "distill"}}, "unknown stage 'distill'"),
        ("no-name", {"name": DELETE}, "name: Field required"),
        ("no-model", {"model": DELETE}, "model: Field required"),
        ("two-model-sources", {"model.onnx": "m.onnx"}, "give exactly one of recipe, factory, onnx, tflite, ir"),
        ("no-model-source", {"model": {}}, "give exactly one of recipe, factory, onnx, tflite, ir (got none)"),
        (
            "dataset-two-sources",
            {"datasets.calibration.factory": "x.py:f"},
            "give exactly one of split (with a recipe), factory, path",
        ),
        (
            "dataset-no-source",
            {"datasets.calibration": {}},
            "give exactly one of split (with a recipe), factory, path, images (got none)",
        ),
        ("split-without-recipe", {"datasets.calibration": {"split": "train"}}, "split needs a recipe"),
        (
            "recipe-without-split",
            {"datasets.calibration": {"recipe": "digits", "path": "x.npz"}},
            "recipe needs a split",
        ),
        ("duration-and-iterations", {"stages.4.duration_s": 5.0}, "give duration_s or iterations, not both"),
        (
            "accuracy-control-no-budget",
            {"budget": DELETE, "stages.1.accuracy_control": {"enabled": True}},
            "accuracy_control: needs a budget",
        ),
        ("budget-without-evaluate", {"stages": _STAGES[:3]}, "no evaluate stage measures ['top1'] on 'validation'"),
        ("evaluate-without-metrics", {"metrics": {}, "budget": DELETE}, "no metrics defined"),
        (
            "escalate-without-budget",
            {"budget": DELETE, "stages.1": {"stage": "escalate", "dataset": "calibration", "rungs": ["ptq"]}},
            "(escalate): needs a budget",
        ),
        (
            "qat-rung-without-options",
            {"stages.1": {"stage": "escalate", "dataset": "calibration", "rungs": ["qat"]}},
            "the qat rung needs its options",
        ),
        (
            "qat-on-onnx",
            {
                "model": {"onnx": "m.onnx"},
                "stages.1": {"stage": "qat", "train_dataset": "calibration", "calibration_dataset": "calibration"},
            },
            "QAT trains the torch model",
        ),
        (
            "pytorch-baseline-on-ir",
            {"model": {"ir": "m.xml"}, "stages.4.baselines": ["pytorch_eager"]},
            "pytorch_eager needs a torch model",
        ),
        (
            "ort-baseline-on-ir",
            {"model": {"ir": "m.xml"}, "stages.4.baselines": ["onnxruntime_fp32"]},
            "ONNX Runtime baselines need a torch or ONNX model",
        ),
        (
            "undefined-baseline-calibration",
            {"stages.4.baseline_calibration": "cal"},
            "baseline_calibration: 'cal' is not defined",
        ),
        (
            "ratio-above-one",
            {"stages.1": {"stage": "compress_weights", "mode": "int4_sym", "ratio": 1.5}},
            "ratio: Input should be less than or equal to 1",
        ),
    ],
    lambda group, case_id, changes, message: Case(
        case_id, group, case_id.replace("-", " "), 2, message, validate_case(changes)
    ),
)
# The file itself.
_add(
    "pipeline file",
    [
        (
            "duplicate-top-level-key",
            2,
            "duplicate key 'name' (first given on line 1)",
            validate_text("name: a\nname: b\nmodel: {recipe: digits}\nstages: [{stage: export}]\n"),
        ),
        (
            "duplicate-nested-key",
            2,
            "line 6: duplicate key 'subset_size' (first given on line 5)",
            validate_text(
                "name: a\nmodel: {recipe: digits}\nstages:\n  - stage: quantize\n    subset_size: 8\n    subset_size: 300\n"
            ),
        ),
        (
            "duplicate-dataset-name",
            2,
            "duplicate key 'calibration'",
            validate_text(
                "name: a\nmodel: {recipe: digits}\ndatasets:\n  calibration: {split: calibration}\n  calibration: {split: validation}\nstages: [{stage: export}]\n"
            ),
        ),
        ("invalid-yaml-bracket", 2, "not valid YAML", validate_text("name: a\nstages: [{stage: export}\n")),
        ("invalid-yaml-indent", 2, "not valid YAML", validate_text("name: a\n  model: x\n stages: []\n")),
        ("tab-indentation", 2, "not valid YAML", validate_text("name: a\nmodel:\n\trecipe: digits\n")),
        ("top-level-list", 2, "the top level must be a mapping", validate_text("- stage: export\n")),
        ("top-level-scalar", 2, "the top level must be a mapping", validate_text("just text\n")),
        ("empty-file", 2, "the top level must be a mapping", validate_text("")),
        ("latin-1-file", 6, "is not UTF-8 text", validate_text("name: caf\xe9\n".encode("latin-1"))),
        ("binary-file", 6, "is not UTF-8 text", validate_text(bytes(range(128, 256)))),
        ("utf-16-file", 6, "is not UTF-8 text", validate_text("name: a\n".encode("utf-16"))),
        ("pipeline-is-directory", 6, "is a directory", lambda tmp: Invocation(["pipeline", "validate", str(tmp)])),
        (
            "pipeline-missing",
            6,
            "pipeline file not found",
            lambda tmp: Invocation(["pipeline", "validate", str(tmp / "nope.yaml")]),
        ),
        (
            "run-missing-pipeline",
            6,
            "pipeline file not found",
            lambda tmp: Invocation(
                ["pipeline", "run", str(tmp / "nope.yaml"), "-o", str(tmp / "run")], run_dir=tmp / "run"
            ),
        ),
    ],
    lambda group, case_id, code, message, setup: Case(case_id, group, case_id.replace("-", " "), code, message, setup),
)
# What the pipeline names on disk, checked by validate without importing anything.
_add(
    "validate: files on disk",
    [
        ("unknown-recipe", 2, "model.recipe: model recipe 'digitz' not found", {"model": {"recipe": "digitz"}}),
        (
            "unknown-dataset-recipe",
            2,
            "datasets.calibration.recipe: model recipe 'mnist' not found",
            {"datasets.calibration": {"recipe": "mnist", "split": "calibration"}},
        ),
        ("missing-recipe-file", 6, "recipe file not found", {"model": {"recipe": "recipes/mine.py"}}),
        (
            "missing-factory-file",
            6,
            "model.factory: the python file of 'nets/missing.py:build' not found",
            {"model.factory": "nets/missing.py:build"},
        ),
        ("factory-file-is-directory", 6, "is a directory, not a file", {"model.factory": "sub.py:build"}),
        (
            "missing-dataset-factory-file",
            6,
            "datasets.calibration.factory: the python file",
            {"datasets.calibration": {"factory": "data.py:items"}},
        ),
        (
            "missing-metric-file",
            6,
            "metrics.top1.function: the python file of 'metrics.py:f1' not found",
            {"metrics.top1.function": "metrics.py:f1"},
        ),
    ],
    lambda group, case_id, code, message, changes: Case(
        case_id,
        group,
        case_id.replace("-", " "),
        code,
        message,
        _with_dir(validate_case(changes), "sub.py")
        if case_id == "factory-file-is-directory"
        else validate_case(changes),
    ),
)


# ------------------------------------------------------------------------------------------ runs


def _npz(**kwargs: Any) -> Callable[[Path], Any]:
    return lambda tmp: write_npz(tmp, **kwargs)


def _raw_file(content: bytes, name: str = "data.npz") -> Callable[[Path], Any]:
    return lambda tmp: _file(tmp, name, content)


def _npz_arrays(**arrays: Any) -> Callable[[Path], Any]:
    return lambda tmp: np.savez(tmp / "data.npz", **arrays)


_GOOD = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
_FACTORY_DATA = {"datasets.validation": {"factory": None}}


def _factory_data(function: str) -> dict[str, Any]:
    return {"datasets.validation": {"factory": f"{USER_CODE}:{function}"}}


# Data that is not finite, empty, unreadable or does not fit: refused naming the dataset, the file and the item.
_add(
    "data",
    [
        ("nan-in-npz", 8, "dataset 'validation' (file ", _npz(poison=np.nan), {}),
        (
            "nan-names-item",
            8,
            "item 3 input 0 holds nan at [0, 1, 2, 3]; the data must be finite",
            _npz(poison=np.nan),
            {},
        ),
        ("inf-in-npz", 8, "holds inf at [0, 1, 2, 3]", _npz(poison=np.inf), {}),
        ("neg-inf-in-npz", 8, "holds -inf at [0, 1, 2, 3]", _npz(poison=-np.inf), {}),
        ("nan-in-float64-npz", 8, "the data must be finite", _npz(poison=np.nan, dtype=np.float64), {}),
        ("nan-in-float16-npz", 8, "the data must be finite", _npz(poison=np.nan, dtype=np.float16), {}),
        (
            "nan-from-factory",
            8,
            f"dataset 'validation' (factory {USER_CODE}:nan_items): item 5",
            None,
            _factory_data("nan_items"),
        ),
        ("inf-from-factory", 8, "item 2 input 0 holds -inf", None, _factory_data("inf_items")),
        (
            "empty-npz",
            8,
            "dataset 'validation' is empty (file ",
            _npz_arrays(inputs=np.zeros((0, 3, 16, 16), np.float32)),
            {},
        ),
        (
            "empty-factory",
            8,
            f"dataset 'validation' is empty (factory {USER_CODE}:empty_items)",
            None,
            _factory_data("empty_items"),
        ),
        ("batch-larger-than-data", 8, "dataset 'validation' is empty", None, {"datasets.validation.batch_size": 100}),
        ("data-factory-returns-none", 2, "returned NoneType, not an iterable", None, _factory_data("items_none")),
        ("factory-returns-string", 2, "returned str, not an iterable", None, _factory_data("items_string")),
        ("data-factory-sys-exit", 2, "called sys.exit(0)", None, _factory_data("items_exit")),
        ("object-array-items", 8, "is not numeric", None, _factory_data("object_items")),
        ("npz-missing", 6, "dataset 'validation': file not found", lambda tmp: None, {}),
        ("npz-is-directory", 6, "is a folder, not a .npy/.npz file", lambda tmp: (tmp / "data.npz").mkdir(), {}),
        ("npz-garbage", 6, "dataset 'validation': cannot read", _raw_file(b"this is not numpy at all"), {}),
        (
            "npz-truncated",
            6,
            "dataset 'validation': cannot read",
            lambda tmp: _file(tmp, "data.npz", (write_npz(tmp, name="full.npz").read_bytes())[:300]),
            {},
        ),
        ("npz-wrong-key", 8, "but the model's inputs are", _npz_arrays(images=_GOOD), {}),
        ("npz-pickled-objects", 6, "cannot read", _npz_arrays(inputs=np.array([{"a": 1}] * 4, dtype=object)), {}),
        (
            "npz-scalar",
            8,
            "holds a single number",
            lambda tmp: np.save(tmp / "data.npy", np.float32(1.0)),
            {"datasets.validation.path": "data.npy"},
        ),
        (
            "labels-count-mismatch",
            8,
            "has 8 inputs but 3 labels",
            _npz_arrays(inputs=_GOOD, labels=np.zeros(3, int)),
            {},
        ),
        (
            "wrong-shape",
            8,
            "expects shape [1,3,16,16], the data has [1, 3, 8, 8]",
            _npz_arrays(inputs=np.zeros((4, 3, 8, 8), np.float32), labels=np.zeros(4, int)),
            {"stages.0.input_shapes": [[1, 3, 16, 16]]},
        ),
        (
            "no-labels-for-top1",
            8,
            "compares with labels, but the dataset items have none",
            _npz_arrays(inputs=_GOOD),
            {},
        ),
    ],
    lambda group, case_id, code, message, data, changes: Case(
        case_id, group, case_id.replace("-", " "), code, message, run_case(changes, data=data)
    ),
)
# Model factories that do not give a model.
_add(
    "model factory",
    [
        ("factory-module-missing", 2, "cannot import module 'no_such_package.models'", "no_such_package.models:build"),
        ("factory-function-missing", 2, "has no callable named 'no_such_model'", f"{USER_CODE}:no_such_model"),
        ("factory-returns-none", 2, "returned NoneType, not a torch.nn.Module", f"{USER_CODE}:returns_none"),
        ("factory-returns-number", 2, "returned int, not a torch.nn.Module", f"{USER_CODE}:returns_number"),
        ("factory-returns-dict", 2, "returned dict, not a torch.nn.Module", f"{USER_CODE}:returns_dict"),
        ("factory-exit-zero", 2, "called sys.exit(0)", f"{USER_CODE}:exits_zero"),
        ("factory-exit-three", 2, "called sys.exit(3)", f"{USER_CODE}:exits_three"),
        ("factory-raises", 3, "ValueError: the checkpoint has no 'state_dict' key", f"{USER_CODE}:raises_value_error"),
    ],
    lambda group, case_id, code, message, factory: Case(
        case_id,
        group,
        f"model.factory: {factory.rpartition(':')[2] if ':' in factory else factory}",
        code,
        message,
        run_case({"model.factory": factory}),
    ),
)
_add(
    "model factory",
    [
        ("factory-syntax-error", 2, "syntax error", b"def build(:\n    pass\n"),
        ("factory-exits-on-import", 2, "called sys.exit(1)", b"import sys\nsys.exit(1)\n"),
    ],
    lambda group, case_id, code, message, source: Case(
        case_id,
        group,
        case_id.replace("-", " "),
        code,
        message,
        run_case(
            {"model.factory": "bad_factory.py:build"},
            data=lambda tmp, s=source: (write_npz(tmp), _file(tmp, "bad_factory.py", s)),
        ),
    ),
)
# Metrics must return a finite float.
_add(
    "metrics",
    [
        ("metric-nan", 2, "metric 'top1' returned nan; it must return a finite float", "metric_nan"),
        ("metric-inf", 2, "metric 'top1' returned inf; it must return a finite float", "metric_inf"),
        ("metric-string", 2, "metric 'top1' returned '0.93' (str); it must return a finite float", "metric_string"),
        ("metric-none", 2, "metric 'top1' returned None (NoneType); it must return a finite float", "metric_none"),
        ("metric-array", 2, "returned an array of shape [2] (ndarray); it must return a finite float", "metric_array"),
        ("metric-bool", 2, "returned True (bool); it must return a finite float", "metric_bool"),
        ("metric-sys-exit", 3, "user code called sys.exit(0)", "metric_exit"),
    ],
    lambda group, case_id, code, message, function: Case(
        case_id,
        group,
        f"metric {function}",
        code,
        message,
        run_case({"metrics.top1.function": f"{USER_CODE}:{function}"}),
    ),
)
# Outputs that are not finite, and variants that are not what their name says.
CASES.append(
    Case(
        "reference-nan-outputs",
        "outputs",
        "the FP32 model outputs NaN on finite data",
        3,
        "the reference variant 'fp32' produces NaN/Inf outputs",
        run_case(
            {
                "model.factory": f"{USER_CODE}:nan_outputs_model",
                "metrics.top1.function": "mse",
                "metrics.top1.against": "reference",
            }
        ),
    )
)
CASES.append(
    Case(
        "int8-executes-no-int8",
        "outputs",
        "an int8 variant whose every compute layer stays float",
        0,
        "variant 'int8' executes 0% int8",
        run_case(
            {
                "stages": [
                    {"stage": "export"},
                    {
                        "stage": "quantize",
                        "dataset": "validation",
                        "subset_size": 4,
                        "ignored_scope": {"types": ["Convolution", "MatMul"]},
                    },
                    {"stage": "compile"},
                ],
            }
        ),
        report_check=lambda report: (
            report["variants"][1]["precision"] != "int8" and "0% int8" in report["variants"][1]["precision"]
        ),
    )
)
_add(
    "data types",
    [
        ("float64-data", "input 'input' is float64, the model takes float32", _npz(dtype=np.float64), {}),
        (
            "int64-data",
            "is int64, the model takes float32",
            lambda tmp: tiny_models.write_ir(tmp / "m.xml"),
            {**_factory_data("int64_items"), "model": {"ir": "m.xml"}},
        ),
    ],
    lambda group, case_id, message, data, changes: Case(
        case_id,
        group,
        f"{case_id.split('-')[0]} data for a float32 model: warned once, recorded",
        0,
        message,
        run_case(changes, data=data),
        report_check=lambda report: (
            len(report["warnings"]) == len(set(report["warnings"])) and report["status"] == "succeeded"
        ),
    ),
)
# Output paths: checked before any work, exit 6 with a hint.
_add(
    "output paths",
    [
        (
            "run-dir-is-file",
            "run folder (-o)",
            "is a file, not a folder",
            lambda tmp: ["-o", str(_file(tmp, "taken"))],
            None,
        ),
        (
            "run-dir-under-file",
            "run folder (-o)",
            "which is a file, not a folder",
            lambda tmp: ["-o", str(_file(tmp, "taken") / "run")],
            None,
        ),
        ("run-dir-read-only", "run folder (-o)", "is not writable", lambda tmp: ["-o", "/sys/ovq-run"], None),
        ("run-dir-proc", "run folder (-o)", "cannot be created there", lambda tmp: ["-o", "/proc/ovq/run"], None),
        (
            "cache-dir-is-file",
            "stage cache folder (OVQ_CACHE_DIR)",
            "which is a file, not a folder",
            None,
            lambda tmp: {"OVQ_CACHE_DIR": str(_file(tmp, "cachefile"))},
        ),
        (
            "cache-dir-under-file",
            "stage cache folder (OVQ_CACHE_DIR)",
            "which is a file, not a folder",
            None,
            lambda tmp: {"OVQ_CACHE_DIR": str(_file(tmp, "cachefile") / "sub")},
        ),
        (
            "cache-dir-read-only",
            "stage cache folder (OVQ_CACHE_DIR)",
            "is not writable",
            None,
            lambda tmp: {"OVQ_CACHE_DIR": "/sys/ovq-cache"},
        ),
    ],
    lambda group, case_id, option, message, options, env: Case(
        case_id, group, f"{option}: {message}", 6, message, run_case(options=options, env=env)
    ),
)

# Nightly jobs: outputs checked first; a second job on the same outputs is refused "in use".
HELD_LOCKS: list[int] = []  # file descriptors a case holds while its command runs (closed by the test)


def _hold_lock(lock_file: Path) -> None:
    import fcntl
    import os

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, b"4242", 0)
    HELD_LOCKS.append(fd)


def nightly_case(
    extra: Callable[[Path], list[str]], *, before: Callable[[Path], Any] | None = None
) -> Callable[[Path], Invocation]:
    def setup(tmp: Path) -> Invocation:
        pipeline = tmp / "pipes" / "job.yaml"
        pipeline.parent.mkdir()
        pipeline.write_text(yaml.safe_dump(run_config()))
        write_npz(pipeline.parent)
        if before is not None:
            before(tmp)
        args = extra(tmp)
        defaults = {"--out": str(tmp / "out"), "--history": str(tmp / "h.sqlite")}
        for option, value in defaults.items():
            if option not in args:
                args += [option, value]
        return Invocation(["nightly", str(pipeline), "--no-plots", *args])

    return setup


_add(
    "nightly",
    [
        ("nightly-out-is-file", 6, "nightly output folder (--out)", lambda tmp: ["--out", str(_file(tmp, "f"))], None),
        (
            "nightly-out-under-file",
            6,
            "which is a file, not a folder",
            lambda tmp: ["--out", str(_file(tmp, "f") / "o")],
            None,
        ),
        ("nightly-out-read-only", 6, "is not writable", lambda tmp: ["--out", "/sys/ovq-nightly"], None),
        ("nightly-junit-is-dir", 6, "--junit", lambda tmp: ["--junit", str(tmp)], None),
        (
            "nightly-junit-under-file",
            6,
            "j.xml is under",
            lambda tmp: ["--junit", str(_file(tmp, "f") / "j.xml")],
            None,
        ),
        (
            "nightly-summary-read-only",
            6,
            "--summary /sys/summary.md: its folder /sys is not writable",
            lambda tmp: ["--summary", "/sys/summary.md"],
            None,
        ),
        ("nightly-history-is-dir", 6, "is a folder, not an SQLite file", lambda tmp: ["--history", str(tmp)], None),
        (
            "nightly-history-under-file",
            6,
            "history file (--history) folder",
            lambda tmp: ["--history", str(_file(tmp, "f") / "h.sqlite")],
            None,
        ),
        (
            "nightly-out-in-use",
            6,
            "is in use by another ovq nightly job (pid 4242)",
            lambda tmp: [],
            lambda tmp: _hold_lock(tmp / "out" / ".ovq-nightly.lock"),
        ),
        (
            "nightly-history-in-use",
            6,
            "h.sqlite is in use by another ovq nightly job",
            lambda tmp: [],
            lambda tmp: _hold_lock(tmp / ".h.sqlite.lock"),
        ),
        (
            "nightly-junit-in-use",
            6,
            "junit.xml is in use by another ovq nightly job",
            lambda tmp: ["--junit", str(tmp / "shared" / "junit.xml")],
            lambda tmp: _hold_lock(tmp / "shared" / ".junit.xml.lock"),
        ),
        ("nightly-missing-pipeline", 6, "nope.yaml", lambda tmp: [str(tmp / "nope.yaml")], None),
        (
            "nightly-bad-plot-format",
            2,
            "trend plots are written as svg or png, not 'gif'",
            lambda tmp: ["--plots", "--plot-format", "gif"],
            None,
        ),
    ],
    lambda group, case_id, code, message, extra, before: Case(
        case_id, group, case_id.replace("-", " "), code, message, nightly_case(extra, before=before)
    ),
)


def benchmark_case(args: Callable[[Path], list[str]], *, real_model: bool = False) -> Callable[[Path], Invocation]:
    def setup(tmp: Path) -> Invocation:
        model = tiny_models.write_ir(tmp / "m.xml") if real_model else tmp / "m.xml"
        return Invocation(["benchmark", str(model), "-q", *args(tmp)])

    return setup


_add(
    "benchmark",
    [
        ("benchmark-json-is-dir", 6, "--json", lambda tmp: ["--json", str(tmp)], False, None),
        (
            "benchmark-json-under-file",
            6,
            "r.json is under",
            lambda tmp: ["--json", str(_file(tmp, "f") / "r.json")],
            False,
            None,
        ),
        ("benchmark-json-read-only", 6, "is not writable", lambda tmp: ["--json", "/sys/r.json"], False, None),
        (
            "benchmark-app-json-is-dir",
            6,
            "--benchmark-app-json",
            lambda tmp: ["--benchmark-app-json", str(tmp)],
            False,
            None,
        ),
        (
            "benchmark-time-inf",
            2,
            "-t/--time must be a positive finite number of seconds, got inf",
            lambda tmp: ["-t", "inf"],
            False,
            None,
        ),
        (
            "benchmark-time-nan",
            2,
            "must be a positive finite number of seconds, got nan",
            lambda tmp: ["-t", "nan"],
            False,
            None,
        ),
        (
            "benchmark-time-negative",
            2,
            "must be a positive finite number of seconds, got -1.0",
            lambda tmp: ["-t", "-1"],
            False,
            None,
        ),
        ("benchmark-model-missing", 6, "model file not found", lambda tmp: [], False, None),
        (
            "benchmark-model-is-dir",
            6,
            "is a directory, not a model file",
            lambda tmp: (tmp / "m.xml").mkdir() or [],
            False,
            None,
        ),
        (
            "benchmark-bad-hint",
            2,
            "unknown hint 'fastest'",
            lambda tmp: ["-hint", "fastest", "-niter", "5"],
            True,
            None,
        ),
        (
            "benchmark-zero-iterations",
            2,
            "iterations must be a positive finite number, got 0",
            lambda tmp: ["-niter", "0"],
            True,
            None,
        ),
        (
            "benchmark-bad-streams",
            2,
            "rejected a setting: Could not read number of streams",
            lambda tmp: ["-nstreams", "lots", "-niter", "5"],
            True,
            None,
        ),
        (
            "benchmark-negative-threads",
            2,
            "rejected a setting: Wrong value for property key INFERENCE_NUM_THREADS",
            lambda tmp: ["-nthreads", "-4", "-niter", "5"],
            True,
            None,
        ),
        ("benchmark-unknown-device", 2, "device", lambda tmp: ["-d", "NPU7", "-niter", "5"], True, None),
    ],
    lambda group, case_id, code, message, args, real, xfail: Case(
        case_id, group, case_id.replace("-", " "), code, message, benchmark_case(args, real_model=real), xfail=xfail
    ),
)
_add(
    "report and history",
    [
        ("report-missing-folder", 6, "no report at", lambda tmp: ["report", str(tmp / "none")]),
        (
            "report-corrupt-json",
            6,
            "is not valid JSON",
            lambda tmp: ["report", str(_file(tmp, "run/report.json", b'{"status": ').parent)],
        ),
        (
            "report-not-an-object",
            6,
            "does not hold a report object",
            lambda tmp: ["report", str(_file(tmp, "run/report.json", b"[1, 2]").parent)],
        ),
        ("report-three-runs", 2, "give one run folder or two to compare, not 3", lambda tmp: ["report", "a", "b", "c"]),
        ("history-missing", 6, "no run history at", lambda tmp: ["history", "--history", str(tmp / "none.sqlite")]),
        ("history-is-dir", 6, "is a folder, not an SQLite file", lambda tmp: ["history", "--history", str(tmp)]),
        (
            "history-not-sqlite",
            6,
            "is unreadable: file is not a database",
            lambda tmp: ["history", "--history", str(_file(tmp, "h.sqlite", b"plain text, not a database" * 10))],
        ),
    ],
    lambda group, case_id, code, message, argv: Case(
        case_id, group, case_id.replace("-", " "), code, message, lambda tmp, a=argv: Invocation(a(tmp))
    ),
)
