"""Run a pipeline: stages in order, each writing into its own folder, one report at the end (or on failure).

A failed stage still produces report.json with status "failed" and the error, then the error is re-raised:
nothing is logged-and-ignored. Unexpected exceptions become StageError(stage) from the cause.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from ovq.config.schema import CompileStage, ExportStage, PipelineConfig, StageConfig, config_digest, load_pipeline
from ovq.errors import OvqError, StageError
from ovq.pipeline.cache import StageCache, link_or_copy_tree
from ovq.pipeline.context import Reporter, RunContext, SilentReporter, Variant
from ovq.pipeline.stages import STAGE_ADAPTERS
from ovq.report.store import new_report, now_iso, write_report
from ovq.runtime.artifacts import staged_dir


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
    cache: StageCache | bool | None = True,
    fresh: bool = False,
    remeasure: Collection[str] = (),
) -> dict[str, Any]:
    """Run a pipeline file (or a parsed config) and return its report.

    cache: True for the default stage cache, a StageCache, or False/None for none. fresh: run every stage
    (and refresh the cache). remeasure: stage kinds never served from the cache (nightly jobs re-measure
    "benchmark" every night, because a slower machine is exactly what they look for).

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
    stage_cache = StageCache() if cache is True else (cache or None)
    if stage_cache is not None:
        stage_cache.remove_stale_staging()
    ctx = RunContext(
        config=config,
        base_dir=base_dir,
        run_dir=run_dir,
        config_digest=digest,
        reporter=reporter or SilentReporter(),
        cache=stage_cache,
    )
    report = new_report(pipeline=config.name, pipeline_file=pipeline_file, config_digest=digest)
    started = time.perf_counter()
    try:
        for index, (stage, label) in enumerate(zip(config.stages, stage_labels(config), strict=True)):
            adapter: Callable[..., dict[str, Any]] = STAGE_ADAPTERS[stage.stage]
            record: dict[str, Any] = {
                "name": label,
                "kind": stage.stage,
                "status": "running",
                "cached": False,
            }
            report["stages"].append(record)
            ctx.reporter.stage_started(label)
            stage_started = time.perf_counter()
            try:
                if isinstance(stage, CompileStage):
                    ctx.compile_stage = stage
                reusable = not fresh and stage.stage not in remeasure
                record["details"], record["cached"] = _run_or_reuse(ctx, stage, index, label, adapter, reusable)
                record["status"] = "succeeded"
            except OvqError as exc:
                record["status"] = "failed"
                record["details"] = exc.details
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
        if config.budget is not None:
            _enforce_budget(ctx, report)
        report["status"] = "succeeded"
    except OvqError as exc:
        report["status"] = "failed"
        report["error"] = exc.to_dict()
        exc.run_dir = str(ctx.run_dir)
        raise
    except BaseException as exc:
        report["status"] = "failed"
        report["error"] = {
            "stage": None,
            "type": type(exc).__name__,
            "message": str(exc) or "interrupted",
            "hint": None,
        }
        raise
    finally:
        _finish(report, ctx, started)
    return report


def _enforce_budget(ctx: RunContext, report: dict[str, Any]) -> None:
    from ovq.pipeline.deliverable import enforce_budget

    started = time.perf_counter()
    record: dict[str, Any] = {"name": "budget", "kind": "budget", "status": "running", "cached": False}
    report["stages"].append(record)
    try:
        report["budget"] = enforce_budget(ctx)
        report["deliverable"] = report["budget"]["deliverable"]
        record["status"] = "succeeded"
    except OvqError as exc:
        # Fail closed: the report says by how much each variant missed; no deliverable is named.
        report["budget"] = getattr(exc, "report_block", None)
        record["status"] = "failed"
        raise
    finally:
        record["duration_s"] = round(time.perf_counter() - started, 3)
        ctx.reporter.stage_finished(record)


def _stage_key(ctx: RunContext, stage: StageConfig) -> str | None:
    """Everything the stage's result depends on; None when the run has no cache."""
    if ctx.cache is None:
        return None
    parts: dict[str, Any] = {
        "kind": stage.stage,
        "config": stage.model_dump(mode="json"),
        "variants": {name: [v.precision, ctx.ir_digest(v)] for name, v in ctx.variants.items()},
    }
    if isinstance(stage, ExportStage):
        parts["source"] = ctx.source_digest()
        if not ctx.config.model.recipe and stage.input_shapes is None:
            # The example input (hence the static shapes) comes from the first dataset.
            parts["example_data"] = ctx.dataset_digest(next(iter(ctx.config.datasets))) if ctx.config.datasets else None
    dataset = getattr(stage, "dataset", None)
    if dataset is not None:
        parts["dataset"] = ctx.dataset_digest(dataset)
    if stage.stage in ("evaluate", "benchmark"):
        parts["compile"] = ctx.compile_stage.model_dump(mode="json") if ctx.compile_stage else None
        parts["metrics"] = {name: spec.model_dump(mode="json") for name, spec in ctx.config.metrics.items()}
    return ctx.cache.key(parts)


def _snapshot(ctx: RunContext) -> dict[str, dict[str, Any]]:
    # A JSON round trip: stages mutate nested dicts in place, the snapshot must not follow them.
    return json.loads(json.dumps({name: v.state(ctx.run_dir) for name, v in ctx.variants.items()}, default=str))  # type: ignore[no-any-return]


def _run_or_reuse(
    ctx: RunContext,
    stage: StageConfig,
    index: int,
    label: str,
    adapter: Callable[..., dict[str, Any]],
    reusable: bool,
) -> tuple[dict[str, Any], bool]:
    """Replay the stage from the cache when its key is known, else run it and store its result."""
    key = _stage_key(ctx, stage)
    stage_dir = ctx.stage_dir(index, label)
    entry = ctx.cache.lookup(key) if ctx.cache is not None and key is not None and reusable else None
    if entry is not None:
        if entry.files.is_dir():
            with staged_dir(stage_dir) as staging:
                link_or_copy_tree(entry.files, staging)
        for name, state in entry.record["variants"].items():
            variant = ctx.variants.get(name)
            if variant is None:
                variant = ctx.variants[name] = Variant(name=name, precision="", source=None, model_path=ctx.run_dir)
            variant.apply_state(state, ctx.run_dir)
        return entry.record["details"], True
    before = _snapshot(ctx)
    details = adapter(ctx, stage, index, label)
    if ctx.cache is not None and key is not None:
        after = _snapshot(ctx)
        changes = {
            name: {field: value for field, value in state.items() if before.get(name, {}).get(field) != value}
            for name, state in after.items()
        }
        ctx.cache.store(
            key,
            {"stage": label, "details": details, "variants": {n: c for n, c in changes.items() if c}},
            files_from=stage_dir if stage_dir.is_dir() else None,
        )
    return details, False


def _finish(report: dict[str, Any], ctx: RunContext, started: float) -> None:
    reference_size = ctx.reference.size_bytes if ctx.variants else None
    report["variants"] = [variant.to_report(reference_size) for variant in ctx.variants.values()]
    for record in report["stages"]:
        # Baselines (PyTorch eager, ONNX Runtime) measured by a benchmark stage sit beside ovq's variants.
        report["variants"].extend((record.get("details") or {}).get("baselines", []))
    report["datasets"] = ctx.dataset_descriptions()
    report["finished_at"] = now_iso()
    report["duration_s"] = round(time.perf_counter() - started, 3)
    report["run_dir"] = str(ctx.run_dir)
    try:
        # Nightly history tells "the model changed" from "the libraries changed" by this digest.
        report["model_digest"] = ctx.source_digest()
    except OvqError:
        report["model_digest"] = None
    write_report(ctx.run_dir, report)
