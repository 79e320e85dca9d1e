"""Run a pipeline: stages in order, each writing into its own folder, one report at the end (or on failure).

A failed stage still produces report.json with status "failed" and the error, then the error is re-raised:
nothing is logged-and-ignored. Unexpected exceptions become StageError(stage) from the cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ovq.config import PipelineConfig, config_digest, load_pipeline
from ovq.errors import OvqError, StageError
from ovq.report import new_report, now_iso, write_report
from ovq.run_context import Reporter, RunContext, SilentReporter
from ovq.stages import STAGE_ADAPTERS


def default_run_dir(config: PipelineConfig) -> Path:
    return Path("runs") / f"{config.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def stage_labels(config: PipelineConfig) -> list[str]:
    """Readable, unique stage names: the kind, plus the variant when a kind appears more than once."""
    kinds = [stage.stage for stage in config.stages]
    labels = []
    for stage in config.stages:
        variant = getattr(stage, "name", None)
        labels.append(f"{stage.stage}:{variant}" if kinds.count(stage.stage) > 1 and variant else stage.stage)
    return labels


def run_pipeline(
    pipeline: str | Path | PipelineConfig,
    *,
    output_dir: str | Path | None = None,
    base_dir: Path | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Run a pipeline file (or a parsed config) and return its report.

    >>> report = run_pipeline("pipelines/quickstart.yaml", output_dir="runs/quickstart")
    >>> report["variants"][1]["benchmark"]["throughput_fps"]
    """
    if isinstance(pipeline, PipelineConfig):
        config, pipeline_file = pipeline, None
        base_dir = base_dir or Path.cwd()
    else:
        config, base_dir = load_pipeline(pipeline)
        pipeline_file = str(pipeline)
    run_dir = Path(output_dir) if output_dir is not None else default_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    digest = config_digest(config)
    ctx = RunContext(
        config=config, base_dir=base_dir, run_dir=run_dir, config_digest=digest, reporter=reporter or SilentReporter()
    )
    report = new_report(pipeline=config.name, pipeline_file=pipeline_file, config_digest=digest)
    started = time.perf_counter()
    try:
        for index, (stage, label) in enumerate(zip(config.stages, stage_labels(config), strict=True)):
            adapter: Callable[..., dict[str, Any]] = STAGE_ADAPTERS[stage.stage]
            record: dict[str, Any] = {"name": label, "kind": stage.stage, "status": "running", "cached": False}
            report["stages"].append(record)
            ctx.reporter.stage_started(label)
            stage_started = time.perf_counter()
            try:
                record["details"] = adapter(ctx, stage, index, label)
                record["status"] = "succeeded"
            except OvqError as exc:
                record["status"] = "failed"
                exc.stage = exc.stage or label
                raise
            except Exception as exc:
                record["status"] = "failed"
                raise StageError(f"{label} failed: {type(exc).__name__}: {exc}", stage=label) from exc
            except BaseException:
                record["status"] = "failed"  # KeyboardInterrupt / SystemExit: still leave an honest report
                raise
            finally:
                record["duration_s"] = round(time.perf_counter() - stage_started, 3)
                ctx.reporter.stage_finished(record)
        report["status"] = "succeeded"
    except OvqError as exc:
        report["status"] = "failed"
        report["error"] = exc.to_dict()
        exc.run_dir = str(ctx.run_dir)
        raise
    except BaseException as exc:
        report["status"] = "failed"
        report["error"] = {"stage": None, "type": type(exc).__name__, "message": str(exc) or "interrupted", "hint": None}
        raise
    finally:
        _finish(report, ctx, started)
    return report


def _finish(report: dict[str, Any], ctx: RunContext, started: float) -> None:
    reference_size = ctx.reference.size_bytes if ctx.variants else None
    report["variants"] = [variant.to_report(reference_size) for variant in ctx.variants.values()]
    report["finished_at"] = now_iso()
    report["duration_s"] = round(time.perf_counter() - started, 3)
    report["run_dir"] = str(ctx.run_dir)
    write_report(ctx.run_dir, report)
