"""`ovq optimize MODEL --data ... --budget ...`: the search for the fastest deployment, without a pipeline file.

It writes the pipeline it runs (export -> optimize -> compile -> evaluate -> benchmark) into the run folder as
``pipeline.yaml``, so the result can be rerun, edited, or checked in; then runs it like `ovq pipeline run`.

    ovq optimize minilm --data calibration --validation validation --validation-limit 400 \\
        --metric nn_agreement=models/minilm/recipe.py:nn_agreement --budget nn_agreement=0.01 --sla 'p99<=15ms'
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ovq.cli.streams import stdout_to_stderr
from ovq.cli.targets import TargetOption, split_targets
from ovq.errors import ConfigError

console = Console(stderr=True, highlight=False)
BUILTIN_AGAINST = {"top1": "labels", "mse": "reference", "cosine": "reference"}


class _Reporter:
    """Stage lines and notes on stderr (the pipeline command's look, without its live bars)."""

    def stage_started(self, name: str) -> None:
        pass

    def stage_finished(self, record: dict[str, Any]) -> None:
        mark = {"succeeded": "[green]✓[/]", "failed": "[red]✗[/]"}.get(record["status"], "·")
        console.print(f"{mark} {record['name']:<22} {record.get('duration_s', 0):7.2f} s")

    def note(self, message: str) -> None:
        console.print(f"[dim]{escape(message)}[/]")

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None) -> Iterator[Callable[[float], None]]:
        console.print(f"  [dim]{escape(description)} …[/]")
        yield lambda completed: None


def _model_source(model: str) -> dict[str, str]:
    path = Path(model)
    if path.suffix == ".xml":
        return {"ir": str(path.resolve())}
    if path.suffix == ".onnx":
        return {"onnx": str(path.resolve())}
    if ":" in model:
        return {"factory": model}
    return {"recipe": str(path.resolve()) if path.suffix == ".py" else model}


def _dataset(data: str, *, recipe: bool, limit: int | None) -> dict[str, Any]:
    spec: dict[str, Any]
    if Path(data).suffix in (".npz", ".npy"):
        spec = {"path": str(Path(data).resolve())}
    elif ":" in data:
        spec = {"factory": data}
    elif recipe:
        spec = {"split": data}
    else:
        raise ConfigError(f"--data {data!r}: not an .npz/.npy file or a 'module:function' factory")
    return {**spec, "limit": limit} if limit else spec


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"{option} {value!r}: write NAME=VALUE")
        pairs[name.strip()] = rest.strip()
    return pairs


@dataclass(frozen=True)
class OptimizeRequest:
    """What `ovq optimize` was asked: the model, its data, the budgets and where it will run."""

    model: str
    data: str
    budgets: dict[str, float]
    validation: str | None = None
    validation_limit: int | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    sla: str | None = None
    qat: bool = True
    reserve: float = 0.0
    targets: list[str] | None = None


def build_pipeline(request: OptimizeRequest) -> dict[str, Any]:
    """The pipeline `ovq optimize` runs, as the dict a pipeline file holds."""
    from ovq.search.settings import parse_sla

    source = _model_source(request.model)
    recipe = "recipe" in source
    data, validation, validation_limit = request.data, request.validation, request.validation_limit
    budgets, metrics, sla, qat, reserve = request.budgets, request.metrics, request.sla, request.qat, request.reserve
    metric_specs = {}
    for name in budgets:
        function = metrics.get(name, name)
        if ":" in function and Path(function.rpartition(":")[0]).suffix == ".py":
            function = f"{Path(function.rpartition(':')[0]).resolve()}:{function.rpartition(':')[2]}"
        metric_specs[name] = {"function": function, "against": BUILTIN_AGAINST.get(function, "reference")}
    optimize: dict[str, Any] = {"stage": "optimize", "dataset": "calibration", "reserve": reserve}
    if sla:
        parsed = parse_sla(sla)
        optimize["sla"] = {"max_ms": parsed.max_ms, "percentile": parsed.percentile}
    if qat and (recipe or "factory" in source):
        optimize["qat"] = {
            "train_dataset": "calibration", "calibration_dataset": "calibration", "teacher": "fp32",
            "loss": "distill_cosine", "epochs": 3, "batch_size": 16, "learning_rate": 1e-5,
        }  # fmt: skip
    else:
        optimize["candidates"] = ["default", "int8", "weights_int8", "mixed_precision"]
    compile_stage: dict[str, Any] = {"stage": "compile", "hint": "throughput"}
    if request.targets:
        # The search quantizes for the weakest of them; each is then measured and judged on its own.
        compile_stage["targets"] = request.targets
    return {
        "name": "optimize",
        "model": source,
        "datasets": {
            "calibration": _dataset(data, recipe=recipe, limit=None),
            "validation": _dataset(validation or data, recipe=recipe, limit=validation_limit),
        },
        "metrics": metric_specs,
        "budget": {"dataset": "validation", "metrics": {n: {"max_drop": d} for n, d in budgets.items()}},
        "stages": [
            {"stage": "export"},
            optimize,
            compile_stage,
            {"stage": "evaluate", "dataset": "validation"},
            {"stage": "benchmark", "duration_s": 2, "repeats": 3},
        ],
    }


def optimize_cmd(
    model: Annotated[str, typer.Argument(help="recipe name, recipe.py, module:function (torch), .onnx or .xml")],
    data: Annotated[str, typer.Option("--data", help="calibration data: a recipe split, .npz/.npy or module:function")],
    budget: Annotated[list[str], typer.Option("--budget", help="METRIC=MAX_DROP (repeatable)")],
    validation: Annotated[str | None, typer.Option(help="validation data (default: --data)")] = None,
    validation_limit: Annotated[int | None, typer.Option(help="use at most this many validation items")] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="NAME=FUNCTION for a metric not built in (repeatable)")
    ] = None,
    sla: Annotated[str | None, typer.Option("--sla", help="latency limit, e.g. 'p99<=15ms'")] = None,
    qat: Annotated[bool, typer.Option("--qat/--no-qat", help="allow teacher-guided QAT (torch models)")] = True,
    reserve: Annotated[float, typer.Option(help="share of each budget's drop kept back as a margin")] = 0.0,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="run folder")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the search result as JSON")] = False,
    target: TargetOption = None,
) -> None:
    """Find the fastest variant and runtime setting that hold the budget (and SLA); exit 4 when nothing does."""
    import yaml

    from ovq.pipeline.runner import run_pipeline

    budgets = {}
    for name, value in _pairs(budget, "--budget").items():
        try:
            budgets[name] = float(value)
        except ValueError:
            raise ConfigError(f"--budget {name}={value}: the max drop must be a number") from None
    request = OptimizeRequest(
        model=model,
        data=data,
        budgets=budgets,
        validation=validation,
        validation_limit=validation_limit,
        metrics=_pairs(metric or [], "--metric"),
        sla=sla,
        qat=qat,
        reserve=reserve,
        targets=split_targets(target),
    )
    config = build_pipeline(request)
    run_dir = output or Path("runs") / f"optimize-{time.strftime('%Y%m%d-%H%M%S')}"
    from ovq.config.schema import parse_pipeline
    from ovq.runtime.artifacts import write_text_atomic

    parsed = parse_pipeline(config, source="ovq optimize")
    try:
        # With --json, stdout carries only the result: what NNCF prints while the search works goes to stderr.
        with stdout_to_stderr(json_output):
            report = run_pipeline(parsed, output_dir=run_dir, base_dir=Path.cwd(), reporter=_Reporter(), cache=False)
    finally:
        # Beside the report (once the run owns the folder): the search as a pipeline to rerun, edit or check in.
        if (run_dir / "report.json").is_file():
            write_text_atomic(run_dir / "pipeline.yaml", yaml.safe_dump(config, sort_keys=False))
    story: dict[str, Any] = next(
        (s["details"]["optimize"] for s in report.get("stages", []) if "optimize" in (s.get("details") or {})), {}
    )
    targets = report.get("targets")
    # The search's pick is judged once more beside the uncompressed model at the default, as every run's is.
    delivered = {
        "deliverable": report.get("deliverable"),
        "deliverable_reason": (report.get("budget") or {}).get("reason"),
    }
    if json_output:
        typer.echo(json.dumps({**story, **delivered, **({"targets": targets} if targets else {})}, indent=2))
        return
    console.print(f"[bold]chosen:[/] {story.get('variant')} @ {story.get('setting_label')}")
    console.print(escape(story.get("reason", "")))
    if delivered["deliverable"] != config["stages"][1].get("name", "optimized"):
        console.print(
            f"[bold]delivered:[/] {delivered['deliverable']}: {escape(delivered['deliverable_reason'] or '')}"
        )
    if targets:
        from ovq.report.console import render_console_targets

        table = render_console_targets(report)
        if table is not None:
            Console(highlight=False).print(table)
    console.print(f"report: {run_dir}/report.json")
