"""The `ovq` command. The only place where errors become exit codes and colours.

Heavy libraries (openvino, nncf, torch) are imported inside the commands, so `ovq --help` and
`ovq pipeline validate` answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ovq import __version__
from ovq.cli.benchmark import benchmark_cmd
from ovq.cli.optimize import optimize_cmd
from ovq.cli.streams import stdout_to_stderr
from ovq.cli.sweep import sweep_cmd
from ovq.cli.targets import TargetOption, split_targets
from ovq.errors import ConfigError, OvqError
from ovq.runtime.cpu_class import active_class

app = typer.Typer(
    name="ovq",
    # The class is read from /proc/cpuinfo (no OpenVINO import): --help stays instant.
    help=(
        "Take a trained model to a fast, verified OpenVINO deployment on x86-64 CPUs (AVX2 to AMX)."
        f"\n\nThis machine: {active_class().describe()}."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pipeline_app = typer.Typer(help="Run, validate and describe pipeline files.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")

console = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)
if not stdout.is_terminal:
    # Logs and CI pages are wide; rich's 80-column default would fold the comparison table.
    stdout = Console(highlight=False, width=200)


def fail(error: OvqError) -> NoReturn:
    # Messages hold brackets (shapes, stage names): escape them so rich does not read them as markup.
    where = escape(f" [{error.stage}]") if error.stage else ""
    console.print(f"[bold red]error{where}:[/] {escape(error.message)}", soft_wrap=True)
    if error.hint:
        console.print(f"[yellow]hint:[/] {escape(error.hint)}", soft_wrap=True)
    if error.run_dir:
        console.print(f"[dim]report of the failed run: {escape(error.run_dir)}/report.json[/]", soft_wrap=True)
    raise typer.Exit(error.exit_code)


@contextlib.contextmanager
def user_errors(debug: bool = False) -> Iterator[None]:
    """OvqError -> one line, one hint, its exit code. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except OvqError as error:
        if debug:
            console.print_exception()
        fail(error)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]")
        raise typer.Exit(130) from None


class ConsoleReporter:
    """Stage lines and transient progress bars on stderr; quiet enough for CI logs."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def stage_started(self, name: str) -> None:
        pass

    def stage_finished(self, record: dict[str, Any]) -> None:
        if self.quiet:
            return
        mark = {"succeeded": "[green]✓[/]", "failed": "[red]✗[/]"}.get(record["status"], "·")
        cached = " [dim](cached)[/]" if record.get("cached") else ""
        console.print(f"{mark} {record['name']:<22} {record.get('duration_s', 0):7.2f} s{cached}")

    def note(self, message: str) -> None:
        if message.startswith("warning:"):
            # Warnings show even with --quiet: they say a result may not be what it seems.
            console.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)
        elif not self.quiet:
            console.print(f"[dim]{message}[/]")

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None) -> Iterator[Callable[[float], None]]:
        if self.quiet or not console.is_terminal:
            # No live bars in logs (CI): one line when the step starts is enough.
            if not self.quiet:
                console.print(f"  [dim]{description} …[/]")
            yield lambda completed: None
            return
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda completed: bar.update(task, completed=completed)


def _version_callback(value: bool) -> None:
    if value:
        stdout.print(f"ovq {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """ovq: export -> compress -> compile -> benchmark, under an accuracy budget."""


@pipeline_app.command("run")
def pipeline_run(
    pipeline_file: Annotated[Path, typer.Argument(help="the pipeline .yaml file")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="run folder (default runs/NAME-TIMESTAMP)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress, only the result")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print report.json to stdout")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="run every stage again (and refresh the cache)")] = False,
    remeasure: Annotated[
        bool,
        typer.Option(
            "--remeasure", help="run every benchmark again (cached export, quantization etc. are still reused)"
        ),
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the stage cache")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="clear a run folder that holds another pipeline's run")
    ] = False,
    target: TargetOption = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
) -> None:
    """Run a pipeline and write RUN_DIR/report.json (+ report.md, report.html).

    Stage results are cached by their inputs and library versions: an unchanged rerun reuses them. Benchmark
    numbers replayed that way are marked "cached" in the report; --remeasure measures them again.
    --target replaces the compile stage's targets: each class gets its own numbers and deliverable.
    """
    from ovq.pipeline.runner import run_pipeline

    started = time.perf_counter()
    # With --json, stdout carries only the report: what NNCF prints while the run works goes to stderr.
    with user_errors(debug), stdout_to_stderr(json_output):
        report = run_pipeline(
            pipeline_file,
            output_dir=output,
            reporter=ConsoleReporter(quiet),
            cache=not no_cache,
            fresh=fresh,
            remeasure=("benchmark",) if remeasure else (),
            overwrite=overwrite,
            targets=split_targets(target),
        )
    if json_output:
        stdout.print_json(json.dumps(report))
        return
    from ovq.report.console import render_console_matrix, render_console_table, render_console_targets

    stdout.print(render_console_table(report))
    matrix = render_console_matrix(report)
    if matrix is not None:
        stdout.print(matrix)
    targets_table = render_console_targets(report)
    if targets_table is not None:
        stdout.print(targets_table)
    stdout.print(f"report: {report['run_dir']}/report.json  ({time.perf_counter() - started:.1f} s)")


@pipeline_app.command("validate")
def pipeline_validate(
    pipeline_file: Annotated[Path, typer.Argument(help="the pipeline .yaml file")],
) -> None:
    """Check a pipeline file (or a sweep file: every combination of its grid) without loading any model."""
    from ovq.config.schema import load_pipeline
    from ovq.inputs.preflight import preflight

    with user_errors():
        if _is_sweep_file(pipeline_file):
            from ovq.sweep.plan import plan_sweep
            from ovq.sweep.spec import load_sweep

            spec, sweep_dir = load_sweep(pipeline_file)
            # Planning validates every run's config and override path; it writes nothing.
            runs = plan_sweep(spec, sweep_dir, Path("runs") / "sweep")
            stdout.print(f"[green]ok[/] {pipeline_file}: sweep of {len(runs)} run(s)")
            return
        config, base_dir = load_pipeline(pipeline_file)
        preflight(config, base_dir)
    stages = " -> ".join(stage.stage for stage in config.stages)
    stdout.print(f"[green]ok[/] {pipeline_file}: {config.name}: {stages}")


def _is_sweep_file(path: Path) -> bool:
    """A sweep file names pipelines and a grid instead of stages (pipelines/sweeps/*.yaml)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # load_pipeline gives the precise error
    return isinstance(raw, dict) and "pipelines" in raw and "stages" not in raw


@pipeline_app.command("schema")
def pipeline_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="the human reference instead of JSON Schema")] = False,
) -> None:
    """Print the JSON Schema of the pipeline file format (for editors), or its Markdown reference."""
    if markdown:
        from ovq.config.reference import render_reference

        text = render_reference()
    else:
        from ovq.config.schema import json_schema

        text = json.dumps(json_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        from ovq.runtime.artifacts import write_text_atomic

        write_text_atomic(output, text + "\n")


@app.command("nightly")
def nightly(
    pipelines: Annotated[list[Path], typer.Argument(help="pipeline files or folders (e.g. pipelines/nightly/)")],
    out: Annotated[Path, typer.Option("--out", help="where runs, plots and CI files go")] = Path("runs/nightly"),
    history_path: Annotated[Path, typer.Option("--history", help="SQLite history file")] = Path(".ovq/history.sqlite"),
    no_history: Annotated[bool, typer.Option("--no-history", help="do not record or compare with history")] = False,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="pinned reference file with per-metric tolerances")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="JUnit XML (default OUT/junit.xml)")] = None,
    summary: Annotated[Path | None, typer.Option("--summary", help="Markdown summary (default OUT/summary.md)")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="trend plot per pipeline")] = True,
    plot_format: Annotated[str, typer.Option("--plot-format", help="svg or png")] = "svg",
    fresh: Annotated[bool, typer.Option("--fresh", help="run every stage again, cache or not")] = False,
    mlflow_uri: Annotated[str | None, typer.Option("--mlflow", help="log runs to MLflow (e.g. file:./mlruns)")] = None,
    mlflow_experiment: Annotated[str, typer.Option("--mlflow-experiment")] = "ovq-nightly",
    accuracy_drop: Annotated[float | None, typer.Option(help="max accuracy drop vs baseline (absolute)")] = None,
    throughput_drop: Annotated[float | None, typer.Option(help="max throughput drop vs baseline (relative)")] = None,
    latency_rise: Annotated[float | None, typer.Option(help="max median latency rise vs baseline (relative)")] = None,
    size_rise: Annotated[float | None, typer.Option(help="max model size rise vs baseline (relative)")] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="local (one after another) or ray (fanned out)")
    ] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="auto or HOST:PORT (default: local)")] = None,
) -> None:
    """Run pipelines as a nightly job: record history, gate against a baseline, write JUnit + Markdown.

    Exit 0 when every pipeline ran and passed its gates; otherwise the most relevant error code
    (see docs/how-to/nightly.md). One failing pipeline does not stop the others.
    """
    from ovq.nightly.gates import Tolerances
    from ovq.nightly.history import HistoryStore
    from ovq.nightly.runner import run_nightly
    from ovq.pipeline.runner import run_pipeline
    from ovq.sweep.nightly import nightly_fan_out

    reporter = ConsoleReporter(quiet=False)

    def run_one(path: Path, output_dir: Path) -> dict[str, Any]:
        console.rule(f"[bold]{path}")
        # Speed is re-measured every night (a slower machine or runtime is what the job looks for);
        # artifacts and scores whose inputs did not change come from the stage cache.
        return run_pipeline(path, output_dir=output_dir, reporter=reporter, fresh=fresh, remeasure=("benchmark",))

    overrides = {
        name: value
        for name, value in (
            ("accuracy_drop", accuracy_drop),
            ("throughput_drop", throughput_drop),
            ("latency_rise", latency_rise),
            ("size_rise", size_rise),
        )
        if value is not None
    }
    with user_errors():
        from ovq.cli.sweep import make_executor

        placement = make_executor(executor, ray_address)
        fan_out = None if executor == "local" else nightly_fan_out(placement, fresh=fresh)
        result = run_nightly(
            pipelines,
            run_pipeline=run_one,
            history=None if no_history else HistoryStore(history_path),
            baseline_ref=baseline,
            out_dir=out,
            junit_path=junit or out / "junit.xml",
            summary_path=summary or out / "summary.md",
            tolerances=Tolerances(**overrides) if overrides else None,
            plots=plots,
            plot_format=plot_format,
            mlflow_uri=mlflow_uri,
            mlflow_experiment=mlflow_experiment,
            fan_out=fan_out,
        )
    for outcome in result.outcomes:
        mark = "[green]passed[/]" if outcome.ok else "[red]FAILED[/]"
        error_message = outcome.error.message if outcome.error is not None else ""
        reasons = "; ".join(gate.message for gate in outcome.failed_gates) or error_message
        stdout.print(f"{mark} {outcome.pipeline}  {escape(reasons)}")
    stdout.print(f"summary: {result.summary_path}  junit: {result.junit_path}")
    raise typer.Exit(result.exit_code)


history_app = typer.Typer(help="Recorded nightly runs.", invoke_without_command=True)
app.add_typer(history_app, name="history")


@history_app.callback()
def history_list(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="only this pipeline")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    history_path: Annotated[Path, typer.Option("--history", help="SQLite history file")] = Path(".ovq/history.sqlite"),
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recorded runs, newest first (`ovq history show RUN_ID` for one)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = history_path
        return
    from rich.table import Table

    from ovq.nightly.history import HistoryStore

    with user_errors():
        runs = HistoryStore(history_path, create=False).list(pipeline=pipeline, limit=limit)
    if json_output:
        stdout.print_json(json.dumps([run.to_dict() for run in runs]))
        return
    table = Table("id", "pipeline", "started", "status", "gates", "openvino", "nncf", "variants")
    for run in runs:
        heads = ", ".join(
            f"{v.variant}: {v.accuracy:.4f}" if v.accuracy is not None else v.variant for v in run.variants
        )
        table.add_row(
            str(run.run_id),
            run.pipeline,
            run.started_at,
            run.status,
            run.gate_status or "-",
            run.openvino_version or "-",
            run.nncf_version or "-",
            heads,
        )
    stdout.print(table)


@history_app.command("show")
def history_show(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="run id from `ovq history`")],
) -> None:
    """Print one recorded run's report (JSON)."""
    from ovq.nightly.history import HistoryStore

    with user_errors():
        record = HistoryStore(ctx.obj or Path(".ovq/history.sqlite"), create=False).get(run_id)
    stdout.print_json(json.dumps(record.report))


@app.command("report")
def report_command(
    runs: Annotated[list[Path], typer.Argument(help="RUN_DIR to re-render, or RUN_A RUN_B to compare")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="folder for comparison.md/.html")] = None,
) -> None:
    """Regenerate RUN_DIR/report.md and report.html, or compare two runs (RUN_A RUN_B)."""
    from ovq.report.diff import (
        compare_reports,
        render_comparison_markdown,
        write_comparison_files,
        write_report_files,
    )
    from ovq.report.store import read_report

    with user_errors():
        if len(runs) == 1:
            for path in write_report_files(runs[0]):
                stdout.print(f"wrote {path}")
            return
        if len(runs) != 2:
            raise ConfigError(f"give one run folder or two to compare, not {len(runs)}")
        comparison = compare_reports(read_report(runs[0]), read_report(runs[1]))
        sys.stdout.write(render_comparison_markdown(comparison) + "\n")
        if output is not None:
            for path in write_comparison_files(runs[0], runs[1], output):
                stdout.print(f"wrote {path}")


def _with_user_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command defined elsewhere the CLI's error handling (typer reads the wrapped signature)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with user_errors():
            command(*args, **kwargs)

    return wrapper


app.command("benchmark", help="Benchmark an IR like benchmark_app (same options and definitions).")(
    _with_user_errors(benchmark_cmd)
)
app.command("optimize", help="Search for the fastest deployment that holds an accuracy budget (and SLA).")(
    _with_user_errors(optimize_cmd)
)

app.command("sweep", help="Run a grid of pipeline variations (locally or on Ray) and write one sweep report.")(
    _with_user_errors(sweep_cmd)
)

cache_app = typer.Typer(help="The stage cache shared by all runs (OVQ_CACHE_DIR, default ~/.cache/ovq).")
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """Where the stage cache is, how many entries and bytes it holds."""
    from ovq.pipeline.cache import StageCache

    summary = StageCache().summary()
    stdout.print(f"{summary['path']}: {summary['entries']} entries, {summary['size_bytes'] / 1e6:.1f} MB")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached stage result (the next runs start fresh)."""
    from ovq.pipeline.cache import StageCache

    cache = StageCache()
    stdout.print(f"removed {cache.clear()} entries from {cache.root}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
