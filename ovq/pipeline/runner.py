"""Run a pipeline: stages in order, each writing into its own folder, one report at the end (or on failure).

The run folder is claimed first (a `running` report, an earlier run of the same pipeline cleared). A failed
stage still produces report.json with status "failed" and the error, then the error is re-raised: nothing is
logged-and-ignored. Unexpected exceptions become StageError(stage) from the cause; Ctrl-C and SIGTERM leave
a failed report too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ovq.config.schema import PipelineConfig, StageConfig, config_digest, load_pipeline
from ovq.errors import OvqError, StageError
from ovq.inputs.preflight import preflight
from ovq.pipeline import run_folder
from ovq.pipeline.cache import CacheEntry, StageCache
from ovq.pipeline.context import Reporter, RunContext, SilentReporter, Variant
from ovq.pipeline.faults import FAULT_ENV, FaultingReporter, checkpoint
from ovq.pipeline.stages import STAGE_ADAPTERS, StageAdapter, StageResult
from ovq.report.store import new_report, now_iso, write_report
from ovq.runtime.artifacts import staged_dir
from ovq.runtime.output_paths import check_output_dir
from ovq.runtime.signals import keep_signal_stack_valid

# Stands for the run folder in cached records, so a replayed stage's paths point into the run replaying it.
RUN_DIR_TOKEN = "${RUN_DIR}"


def default_run_dir(config: PipelineConfig) -> Path:
    return run_folder.default_run_dir(config.name)


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
    overwrite: bool = False,
    targets: Collection[str] | None = None,
) -> dict[str, Any]:
    """Run a pipeline file (or a parsed config) and return its report.

    targets: the CPU classes to answer for, replacing the compile stage's ``targets`` (``--target``).

    cache: True for the default stage cache, a StageCache, or False/None for none. fresh: run every stage
    (and refresh the cache). remeasure: stage kinds never served from the cache (nightly jobs re-measure
    "benchmark" every night, because a slower machine is exactly what they look for). overwrite: clear an
    output folder that holds another pipeline's run (or no run) instead of refusing it.

    >>> report = run_pipeline("pipelines/quickstart.yaml", output_dir="runs/quickstart")
    >>> report["variants"][1]["benchmark"]["throughput_fps"]
    """
    if isinstance(pipeline, PipelineConfig):
        config, pipeline_file = pipeline, None
        base_dir = base_dir or Path.cwd()
    else:
        config, base_dir = load_pipeline(pipeline)
        pipeline_file = str(pipeline)
    if targets:
        config = with_targets(config, list(targets))
    preflight(config, base_dir)
    run_dir = Path(output_dir) if output_dir is not None else default_run_dir(config)
    # Before any work: a run that cannot write its results (or its cache) must not calibrate for minutes first.
    check_output_dir(run_dir, "run folder (-o)")
    stage_cache = StageCache() if cache is True else (cache or None)
    if stage_cache is not None:
        check_output_dir(stage_cache.root, "stage cache folder (OVQ_CACHE_DIR)")
    digest = config_digest(config)
    report = new_report(pipeline=config.name, pipeline_file=pipeline_file, config_digest=digest)
    report["run_dir"] = str(run_dir)
    run_folder.claim(
        run_dir,
        pipeline=config.name,
        config_digest=digest,
        overwrite=overwrite,
        running_report=lambda: write_report(run_dir, report),
    )
    if stage_cache is not None:
        stage_cache.remove_stale_staging()
    reporter = reporter or SilentReporter()
    ctx = RunContext(
        config=config,
        base_dir=base_dir,
        run_dir=run_dir,
        config_digest=digest,
        reporter=FaultingReporter(reporter) if os.environ.get(FAULT_ENV) else reporter,
        cache=stage_cache,
    )
    peers: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        with run_folder.sigterm_raises():
            _run_stages(ctx, report, peers, fresh=fresh, remeasure=remeasure)
            _measure_targets(ctx, report)
            if config.budget is not None:
                _enforce_budget(ctx, report)
                _enforce_target_budgets(report)
            report["status"] = "succeeded"
            checkpoint("report:final")
    except OvqError as exc:
        report["status"] = "failed"
        report["error"] = exc.to_dict()
        exc.run_dir = str(ctx.run_dir)
        raise
    except BaseException as exc:
        report["status"] = "failed"
        report["error"] = {
            "stage": next((r["name"] for r in report["stages"] if r["status"] == "failed"), None),
            "type": type(exc).__name__,
            "message": str(exc) or "interrupted",
            "hint": None,
        }
        raise
    finally:
        _finish(report, ctx, peers, started)
        keep_signal_stack_valid()  # a later Ctrl-C/SIGTERM in this process must not land on a freed stack
    return report


def _run_stages(
    ctx: RunContext, report: dict[str, Any], peers: list[dict[str, Any]], *, fresh: bool, remeasure: Collection[str]
) -> None:
    for index, (stage, label) in enumerate(zip(ctx.config.stages, stage_labels(ctx.config), strict=True)):
        adapter = STAGE_ADAPTERS[stage.stage]
        ctx.stage_index, ctx.stage_label = index, label
        record: dict[str, Any] = {"name": label, "kind": stage.stage, "status": "running", "cached": False}
        report["stages"].append(record)
        ctx.reporter.stage_started(label)
        stage_started = time.perf_counter()
        try:
            checkpoint(f"stage:{label}")
            reusable = not fresh and stage.stage not in remeasure
            result, record["cached"] = _run_or_reuse(ctx, stage, adapter, reusable)
            record["details"] = result.details
            peers.extend(result.peers)
            if result.matrix is not None:
                report["matrix"] = result.matrix
            record["status"] = "succeeded"
        except OvqError as exc:
            record["status"] = "failed"
            record["details"] = exc.details
            exc.stage = exc.stage or label
            raise
        except Exception as exc:
            record["status"] = "failed"
            raise StageError(f"{label} failed: {type(exc).__name__}: {exc}", stage=label) from exc
        except run_folder.Terminated:
            record["status"] = "failed"  # SIGTERM: a failed report, exit 143
            raise
        except SystemExit as exc:
            # User code (a factory, a metric) called sys.exit(): a failed stage, never ovq's exit code 0.
            record["status"] = "failed"
            raise StageError(
                f"{label} failed: user code called sys.exit({exc.code!r})",
                stage=label,
                hint="raise an exception in your function instead of exiting the process",
            ) from None
        except BaseException:
            record["status"] = "failed"  # KeyboardInterrupt / SIGTERM: still leave an honest report
            raise
        finally:
            record["duration_s"] = round(time.perf_counter() - stage_started, 3)
            ctx.reporter.stage_finished(record)
            # Native libraries can leave a freed alternate signal stack behind: a SIGTERM/Ctrl-C after this
            # stage must still reach its handler (ovq/runtime/signals.py).
            keep_signal_stack_valid()


def with_targets(config: PipelineConfig, targets: list[str]) -> PipelineConfig:
    """The config with its compile stage answering for ``targets`` (validated like the file's own field)."""
    from ovq.config.stages import CompileStage
    from ovq.errors import ConfigError
    from ovq.runtime.cpu_class import TARGET_NAMES

    unknown = [t for t in targets if t not in TARGET_NAMES]
    if unknown:
        raise ConfigError(f"unknown target(s) {unknown}", hint=f"allowed: {', '.join(TARGET_NAMES)}")
    if not any(isinstance(stage, CompileStage) for stage in config.stages):
        raise ConfigError("--target needs a compile stage in the pipeline", hint="add `- stage: compile`")
    stages = [
        CompileStage.model_validate({**stage.model_dump(), "targets": targets})
        if isinstance(stage, CompileStage)
        else stage
        for stage in config.stages
    ]
    return config.model_copy(update={"stages": stages})


def _measure_targets(ctx: RunContext, report: dict[str, Any]) -> None:
    """Every variant on every CPU class the run answers for (compile.targets), before any verdict fails the run."""
    from ovq.pipeline.targets import measure_targets

    started = time.perf_counter()
    targets = measure_targets(ctx)
    if targets is None:
        return
    report["targets"] = targets
    report["stages"].append(
        {
            "name": "targets",
            "kind": "targets",
            "status": "succeeded",
            "cached": False,
            "duration_s": round(time.perf_counter() - started, 3),
            "details": {t["target"]: t["status"] for t in targets},
        }
    )
    write_report(ctx.run_dir, report)


def _enforce_target_budgets(report: dict[str, Any]) -> None:
    """Fail closed when a measured target has no variant holding the budget: the fleet has a box with no model."""
    from ovq.errors import AccuracyBudgetError

    missed = [t for t in report.get("targets") or [] if t["status"] == "measured" and t.get("budget_met") is False]
    if missed:
        raise AccuracyBudgetError(
            "no variant meets the accuracy budget on target(s) "
            + "; ".join(f"{t['target']}: {t.get('reason')}" for t in missed),
            stage="budget",
            hint="see the report's targets section: each class's INT8 arithmetic scores differently",
        )


def _enforce_budget(ctx: RunContext, report: dict[str, Any]) -> None:
    from ovq.pipeline.deliverable import enforce_budget

    started = time.perf_counter()
    record: dict[str, Any] = {"name": "budget", "kind": "budget", "status": "running", "cached": False}
    report["stages"].append(record)
    try:
        verdict = enforce_budget(ctx)
        # Met or not, the report says by how much each variant missed; a miss names no deliverable.
        report["budget"] = verdict.block
        report["deliverable"] = verdict.deliverable
        record["status"] = "succeeded" if verdict.met else "failed"
        if not verdict.met:
            raise verdict.error()
    except BaseException:
        record["status"] = "failed"
        raise
    finally:
        record["duration_s"] = round(time.perf_counter() - started, 3)
        ctx.reporter.stage_finished(record)


def _snapshot(ctx: RunContext) -> dict[str, dict[str, Any]]:
    # A JSON round trip: stages mutate nested dicts in place, the snapshot must not follow them.
    return json.loads(json.dumps({name: v.state(ctx.run_dir) for name, v in ctx.variants.items()}, default=str))  # type: ignore[no-any-return]


def _run_or_reuse(
    ctx: RunContext, stage: StageConfig, adapter: StageAdapter[Any], reusable: bool
) -> tuple[StageResult, bool]:
    """Replay the stage from the cache when its key is known, else run it and store its result."""
    cache = ctx.cache
    key = cache.key(adapter.cache_key_parts(ctx, stage)) if cache is not None else None
    if cache is not None and key is not None and reusable:
        entry = cache.lookup(key, warn=ctx.warn)
        if entry is not None:
            replayed = _replay(ctx, cache, entry)
            if replayed is not None:
                return replayed, True
    before = _snapshot(ctx)
    warned = len(ctx.warnings)
    result = adapter.run(ctx, stage)
    if cache is not None and key is not None:
        after = _snapshot(ctx)
        changes = {
            name: {field: value for field, value in state.items() if before.get(name, {}).get(field) != value}
            for name, state in after.items()
        }
        record = {
            "stage": ctx.stage_label,
            "result": result.to_record(),
            "variants": {n: c for n, c in changes.items() if c},
            "warnings": ctx.warnings[warned:],  # a replayed stage repeats what it warned about
        }
        stage_dir = ctx.stage_folder
        files = stage_dir if stage_dir.is_dir() else None
        cache.store(key, _with_run_dir(record, str(ctx.run_dir), RUN_DIR_TOKEN), files, warn=ctx.warn)
    return result, False


def _replay(ctx: RunContext, cache: StageCache, entry: CacheEntry) -> StageResult | None:
    """Put a cached stage's files (copied, verified) into this run and apply its record; None if corrupted."""
    try:
        record = _with_run_dir(entry.record, RUN_DIR_TOKEN, str(ctx.run_dir))
        result = StageResult.from_record(record["result"])
        variant_states: dict[str, dict[str, Any]] = record["variants"]
    except (KeyError, TypeError, AttributeError):
        ctx.warn(f"stage cache entry {entry.key} is malformed; dropped, the stage runs again")
        cache.drop(entry.key)
        return None
    if entry.has_files:
        try:
            with staged_dir(ctx.stage_folder) as staging:
                if not cache.materialize(entry, staging, warn=ctx.warn):
                    raise _CorruptEntry
        except _CorruptEntry:
            return None
    for name, state in variant_states.items():
        variant = ctx.variants.get(name)
        if variant is None:
            variant = ctx.variants[name] = Variant(name=name, precision="", source=None, model_path=ctx.run_dir)
        variant.apply_state(state, ctx.run_dir)
    for message in record.get("warnings", []):
        ctx.warn(message)  # a cached stage repeats what it warned about
    return result


class _CorruptEntry(Exception):
    pass


def _with_run_dir(value: Any, old: str, new: str) -> Any:
    """value with every string that is (or starts with) the path `old` rewritten to start with `new`."""
    if isinstance(value, str):
        if value == old or value.startswith(old + os.sep):
            return new + value[len(old) :]
        return value
    if isinstance(value, dict):
        return {k: _with_run_dir(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_run_dir(v, old, new) for v in value]
    return value


def _finish(report: dict[str, Any], ctx: RunContext, peers: list[dict[str, Any]], started: float) -> None:
    reference_size = ctx.reference.size_bytes if ctx.variants else None
    report["variants"] = [variant.to_report(reference_size) for variant in ctx.variants.values()]
    # Peers (PyTorch eager, ONNX Runtime) measured by a benchmark stage sit beside ovq's variants.
    report["variants"].extend(peers)
    report["datasets"] = ctx.dataset_descriptions()
    report["finished_at"] = now_iso()
    report["duration_s"] = round(time.perf_counter() - started, 3)
    report["run_dir"] = str(ctx.run_dir)
    report["warnings"] = list(ctx.warnings)
    try:
        # Nightly history tells "the model changed" from "the libraries changed" by this digest.
        report["model_digest"] = ctx.source_digest()
    except OvqError:
        report["model_digest"] = None
    write_report(ctx.run_dir, report)
