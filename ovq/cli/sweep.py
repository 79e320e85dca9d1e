"""`ovq sweep SWEEP.yaml`: a grid of pipeline runs, locally or on Ray, and one sweep report."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ovq.errors import ConfigError

if TYPE_CHECKING:
    from ovq.sweep.executors import Executor

console = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)

EXECUTORS = ("local", "ray")


def make_executor(executor: str, ray_address: str | None) -> Executor:
    """The executor an --executor/--ray-address pair names (ConfigError for a bad combination)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "local":
        if ray_address is not None:
            raise ConfigError("--ray-address needs --executor ray")
        from ovq.sweep.executors import LocalExecutor

        return LocalExecutor()
    from ovq.sweep.ray_executor import RayExecutor

    return RayExecutor(ray_address)


def sweep_cmd(
    sweep_file: Annotated[Path, typer.Argument(help="the sweep .yaml file (pipelines + grid of overrides)")],
    executor: Annotated[str, typer.Option("--executor", help="local (one run after another) or ray")] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="auto or HOST:PORT of a Ray cluster (default: start one here)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="sweep folder (default runs/sweep-NAME-…)")
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="run every stage again (and refresh the cache)")] = False,
    remeasure: Annotated[
        bool,
        typer.Option(
            "--remeasure", help="run every benchmark again (cached export, quantization etc. are still reused)"
        ),
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the stage cache")] = False,
) -> None:
    """Run every combination of a sweep file; write OUT/sweep.json (+ .md, .html) and each run's folder.

    Exit 0 when every run succeeded, else the most relevant run's exit code; 130 after Ctrl-C, 143 after
    SIGTERM (the sweep report then says which runs finished). A rerun replays cached benchmarks (marked "cached" in the
    report); --remeasure measures them again.
    """
    from ovq.sweep.executors import SweepInterrupted
    from ovq.sweep.runner import run_sweep
    from ovq.sweep.summary import benchmark_cached
    from ovq.sweep.task import RunResult, RunTask

    def progress(task: RunTask, result: RunResult) -> None:
        mark = "[green]✓[/]" if result.exit_code == 0 else f"[red]✗ exit {result.exit_code}[/]"
        where = result.node.get("ray_node_id") or result.node.get("hostname") or "?"
        replayed = "  [yellow]benchmark cached[/]" if benchmark_cached(result.report) else ""
        console.print(
            f"{mark} {task.run_id} {escape(task.model)} {escape(task.label)}  {result.duration_s:6.1f} s"
            f"  [dim]node {escape(str(where)[:12])}[/]{replayed}"
        )

    placement = make_executor(executor, ray_address)
    try:
        sweep = run_sweep(
            sweep_file,
            out_dir=output,
            executor=placement,
            cache=not no_cache,
            fresh=fresh,
            remeasure=("benchmark",) if remeasure else (),
            on_result=progress,
        )
    except SweepInterrupted as stop:
        done = sum(result.status in ("succeeded", "failed") for result in stop.results)
        how = "interrupted" if stop.signum == signal.SIGINT else "terminated"
        console.print(f"[bold red]{how}[/]: {done} of {len(stop.results)} runs finished; sweep report written")
        raise typer.Exit(stop.exit_code) from None
    for note in sweep["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for model, best in sweep["best"].items():
        stdout.print(f"best {escape(model)}: {escape(str(best.get('variant')))} (run {best.get('run_id')})")
    stdout.print(f"sweep report: {sweep['out_dir']}/sweep.json (.md, .html)  status {sweep['status']}")
    raise typer.Exit(sweep["exit_code"])
