"""The `ovq` command. The only place where errors become exit codes and colours.

Heavy libraries (openvino, nncf, torch) are imported inside the commands, so `ovq --help` and
`ovq pipeline validate` answer at once.
"""

from __future__ import annotations

import contextlib
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
from ovq.errors import OvqError

app = typer.Typer(
    name="ovq",
    help="Take a trained model to a fast, verified OpenVINO deployment on Intel CPUs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pipeline_app = typer.Typer(help="Run, validate and describe pipeline files.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")

console = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


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
        if not self.quiet:
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
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the stage cache")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
) -> None:
    """Run a pipeline and write RUN_DIR/report.json (+ report.md, report.html).

    Stage results are cached by their inputs and library versions: an unchanged rerun reuses them.
    """
    from ovq.pipeline import run_pipeline

    started = time.perf_counter()
    with user_errors(debug):
        report = run_pipeline(
            pipeline_file, output_dir=output, reporter=ConsoleReporter(quiet), cache=not no_cache, fresh=fresh
        )
    if json_output:
        stdout.print_json(json.dumps(report))
        return
    from ovq.report_render import render_console_table

    stdout.print(render_console_table(report))
    stdout.print(f"report: {report['run_dir']}/report.json  ({time.perf_counter() - started:.1f} s)")


@pipeline_app.command("validate")
def pipeline_validate(
    pipeline_file: Annotated[Path, typer.Argument(help="the pipeline .yaml file")],
) -> None:
    """Check a pipeline file without loading any model."""
    from ovq.config import load_pipeline

    with user_errors():
        config, _ = load_pipeline(pipeline_file)
    stages = " -> ".join(stage.stage for stage in config.stages)
    stdout.print(f"[green]ok[/] {pipeline_file}: {config.name}: {stages}")


@pipeline_app.command("schema")
def pipeline_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
) -> None:
    """Print the JSON Schema of the pipeline file format (for editors)."""
    from ovq.config import json_schema

    text = json.dumps(json_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n")


cache_app = typer.Typer(help="The stage cache shared by all runs (OVQ_CACHE_DIR, default ~/.cache/ovq).")
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """Where the stage cache is, how many entries and bytes it holds."""
    from ovq.stage_cache import StageCache

    summary = StageCache().summary()
    stdout.print(f"{summary['path']}: {summary['entries']} entries, {summary['size_bytes'] / 1e6:.1f} MB")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached stage result (the next runs start fresh)."""
    from ovq.stage_cache import StageCache

    cache = StageCache()
    stdout.print(f"removed {cache.clear()} entries from {cache.root}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
