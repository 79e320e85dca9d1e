"""One run of a sweep as a task, and what it hands back to the driver.

`execute_run` is the only function executors call: it runs one pipeline with the public API
(`ovq.run_pipeline`), never raises for a user error (the error and its exit code travel back in the
result, so Ray never retries a bad config or a missed budget), and records the node it ran on. Only a
lost worker or node (the process dies) makes Ray run it again elsewhere; the rerun starts from a clean
run folder, so a retried run is the same run.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

RunStatus = Literal["succeeded", "failed", "cancelled", "lost"]


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to run one pipeline; plain data, so it pickles to any node."""

    run_id: str
    label: str
    pipeline: str
    pipeline_file: str
    base_dir: str
    model: str
    overrides: dict[str, Any]
    config: dict[str, Any]
    run_dir: str
    whole_node: bool
    cache: bool = True
    fresh: bool = False
    remeasure: tuple[str, ...] = ()
    collect: Literal["none", "deliverable", "all"] = "deliverable"
    tasks_per_node: int = 2


@dataclass
class RunResult:
    """A finished (or given-up) run as the driver sees it."""

    run_id: str
    status: RunStatus
    exit_code: int
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    node: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    # Collected IR files: "variant/model.xml" -> bytes (only what the task was asked to collect).
    artifacts: dict[str, bytes] = field(default_factory=dict)
    traceback: str | None = None


def node_record() -> dict[str, Any]:
    """The machine a run measured on: CPU model, kernel-relevant flags, cores, plus where in the cluster."""
    from ovq.runtime.environment import environment

    env = environment()
    record: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cpu": env.get("cpu"),
        "cpu_count": env.get("cpu_count"),
        "cpu_flags": env.get("cpu_flags"),
        "ray_node_id": None,
        "ray_node_ip": None,
    }
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        context = ray.get_runtime_context()
        record["ray_node_id"] = context.get_node_id()
        record["ray_node_ip"] = ray.util.get_node_ip_address()
    return record


def use_every_core() -> None:
    """Undo Ray's OMP_NUM_THREADS=1 for zero-CPU tasks: a run owns its node's cores like a local run does.

    Without this, torch (QAT, the PyTorch baseline) would run single-threaded under Ray and a sweep on a
    cluster would not measure what the same sweep measures locally.
    """
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized() or ray.get_runtime_context().worker.mode != ray.WORKER_MODE:
        return
    cores = os.cpu_count() or 1
    os.environ["OMP_NUM_THREADS"] = str(cores)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(cores)


def execute_run(task: RunTask) -> RunResult:
    """Run one pipeline of a sweep; user errors come back as a failed result with their exit code."""
    # The public API's own functions (ovq.run_pipeline, ovq.PipelineConfig, ovq.OvqError), imported from
    # where ovq/__init__.py re-exports them so that mypy sees their types.
    from ovq.config.schema import PipelineConfig
    from ovq.errors import OvqError
    from ovq.pipeline.runner import run_pipeline

    started = time.perf_counter()
    run_dir = Path(task.run_dir)
    # A retried task (its node died) starts from a clean folder: half-written stage output is not reused.
    shutil.rmtree(run_dir, ignore_errors=True)
    node = node_record()
    use_every_core()
    try:
        config = PipelineConfig.model_validate(task.config)
        report = run_pipeline(
            config,
            output_dir=run_dir,
            base_dir=Path(task.base_dir),
            cache=task.cache,
            fresh=task.fresh,
            remeasure=task.remeasure,
        )
        report["pipeline_file"] = task.pipeline_file
    except OvqError as exc:
        return RunResult(
            run_id=task.run_id,
            status="failed",
            exit_code=exc.exit_code,
            report=_written_report(run_dir),
            error=exc.to_dict(),
            node=node,
            duration_s=time.perf_counter() - started,
        )
    except Exception as exc:
        # A bug: kept with its traceback, exit 1, and not retried (it would fail the same way elsewhere).
        return RunResult(
            run_id=task.run_id,
            status="failed",
            exit_code=1,
            report=_written_report(run_dir),
            error={"stage": None, "type": type(exc).__name__, "message": str(exc) or type(exc).__name__, "hint": None},
            node=node,
            duration_s=time.perf_counter() - started,
            traceback=traceback.format_exc(),
        )
    return RunResult(
        run_id=task.run_id,
        status="succeeded",
        exit_code=0,
        report=report,
        node=node,
        duration_s=time.perf_counter() - started,
        artifacts=_collect(report, task.collect),
    )


def _written_report(run_dir: Path) -> dict[str, Any] | None:
    from ovq.errors import OvqError
    from ovq.report.store import read_report

    try:
        return read_report(run_dir).to_document()  # a plain dict crosses Ray's object store
    except OvqError:
        return None  # the run failed before writing its report


def _collect(report: dict[str, Any], collect: str) -> dict[str, bytes]:
    """The IR files the driver asked for, read on the worker (the driver may not share its disk)."""
    if collect == "none":
        return {}
    wanted = {report.get("deliverable")} if collect == "deliverable" else None
    files: dict[str, bytes] = {}
    for variant in report.get("variants") or []:
        name, model_path = variant.get("name"), variant.get("model_path")
        if variant.get("baseline") or not model_path or (wanted is not None and name not in wanted):
            continue
        xml = Path(model_path)
        for path in (xml, xml.with_suffix(".bin")):
            if path.is_file():
                files[f"{name}/{path.name}"] = path.read_bytes()
    return files
