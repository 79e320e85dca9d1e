"""Nightly jobs: run several pipelines, gate each against its baseline, tell CI in JUnit and Markdown.

`run_nightly` does not know how a pipeline runs: it is handed a ``run_pipeline(path, output_dir)``
callable that returns the run's report (succeeded or failed; a `Report` or a report.json document) or
raises. The report is parsed into a `Report` once, here; gates, history, tracking and the CI files read
that. One pipeline failing never stops the others; every failure is recorded, gated and reported.

A report that does not parse (handed back by ``run_pipeline``, or left in the run folder by a run that
raised) is a bug in ovq, never accepted as it is: the pipeline gets exit code 1 and a failed report whose
error names the problem, and the job goes on with the next pipeline.

Exit code rule (`most_relevant_exit_code`): 0 when every pipeline ran and every gate held. Otherwise the
code of the most relevant problem across all pipelines, in this order:

    1 a bug in ovq > 2 config > 9 dependency > 6 input file > 7 model format > 8 data mismatch
    > 3 stage failure > 4 accuracy budget missed > 5 performance gate missed > 10 regression

Problems that kept a pipeline from producing a result come first: a pipeline that did not run cannot
be checked, so its gates say nothing, and the job itself needs fixing. Among verdicts on finished runs,
absolute promises (the budget, the pipeline's own speed gates) outrank relative drift against a baseline.
Every problem is in the summary and the JUnit file whatever the exit code says.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovq.errors import ConfigError, InputFileError, OvqError
from ovq.nightly.gates import (
    Baseline,
    GateResult,
    PinnedBaselines,
    Tolerances,
    baseline_from_report,
    compare,
    environment_changes,
    load_pinned_baselines,
    report_gates,
)
from ovq.nightly.lock import exclusive_outputs
from ovq.nightly.run_report import bug_error, exit_code_of, report_of_failure, returned_report
from ovq.report.schema import Report, ReportError, ReportLike
from ovq.runtime.artifacts import write_json_atomic
from ovq.runtime.output_paths import check_output_dir, check_output_file

if TYPE_CHECKING:
    from ovq.nightly.history import HistoryStore

RunPipeline = Callable[[Path, Path], ReportLike]

EXIT_CODE_PRIORITY: tuple[int, ...] = (1, 2, 9, 6, 7, 8, 3, 4, 5, 10)
PIPELINE_SUFFIXES = (".yaml", ".yml")


@dataclass
class PipelineOutcome:
    """What happened to one pipeline in a nightly run."""

    path: Path
    pipeline: str
    report: Report
    run_dir: Path
    duration_s: float
    error_exit_code: int = 0
    traceback: str | None = None
    gates: list[GateResult] = field(default_factory=list)
    baseline_source: str | None = None
    baseline_run_id: int | None = None  # the history run it was gated against (its models are kept)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_exit_codes: list[int] = field(default_factory=list)
    run_id: int | None = None
    plot_path: Path | None = None

    @property
    def succeeded(self) -> bool:
        """The pipeline ran to the end (its gates may still have failed)."""
        return self.report.status == "succeeded" and self.error_exit_code == 0

    @property
    def error(self) -> ReportError | None:
        """The report's error block, when the run failed."""
        return self.report.error

    @property
    def failed_gates(self) -> list[GateResult]:
        """The gates that failed, in the order they were checked."""
        return [gate for gate in self.gates if gate.status == "failed"]

    @property
    def exit_code(self) -> int:
        """This pipeline's most relevant exit code (0 = ran and every gate held)."""
        codes = [self.error_exit_code, *self.extra_exit_codes, *(gate.exit_code for gate in self.gates)]
        return most_relevant_exit_code(codes)

    @property
    def ok(self) -> bool:
        """Ran, and every gate held."""
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the full report stays in the run folder and the history)."""
        return {
            "path": str(self.path),
            "pipeline": self.pipeline,
            "status": self.report.status,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "run_dir": str(self.run_dir),
            "run_id": self.run_id,
            # The error block as the report document has it (no keys it did not set).
            "error": self.error.model_dump(mode="json", exclude_unset=True) if self.error is not None else None,
            "baseline": self.baseline_source,
            "changes": self.changes,
            "notes": self.notes,
            "gates": [gate.to_dict() for gate in self.gates],
            "plot": str(self.plot_path) if self.plot_path is not None else None,
        }


@dataclass
class NightlyResult:
    """Every pipeline's outcome, the exit code and where the CI files were written."""

    outcomes: list[PipelineOutcome]
    started_at: str
    duration_s: float
    junit_path: Path | None = None
    summary_path: Path | None = None
    result_path: Path | None = None

    @property
    def exit_code(self) -> int:
        """The job's exit code (see the module docstring for the rule)."""
        return most_relevant_exit_code(outcome.exit_code for outcome in self.outcomes)

    @property
    def failed(self) -> list[PipelineOutcome]:
        """The pipelines that did not run or failed a gate."""
        return [outcome for outcome in self.outcomes if not outcome.ok]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary of the whole job."""
        return {
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "exit_code": self.exit_code,
            "pipelines": [outcome.to_dict() for outcome in self.outcomes],
        }


def most_relevant_exit_code(codes: Iterable[int]) -> int:
    """The code that wins among several problems' exit codes (0 when there is none)."""
    present = {code for code in codes if code}
    if not present:
        return 0
    ranked = [code for code in EXIT_CODE_PRIORITY if code in present]
    # A code outside the documented tree is unexpected: treat it like a bug rather than hide it.
    return ranked[0] if ranked else 1


def find_pipeline_files(paths: Sequence[str | Path]) -> list[Path]:
    """Pipeline files named directly, plus the *.yaml/*.yml files directly inside named folders."""
    if not paths:
        raise ConfigError("no pipeline given", hint="pass pipeline files or a folder such as pipelines/nightly/")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PIPELINE_SUFFIXES)
            if not files:
                raise ConfigError(f"no pipeline files (*.yaml, *.yml) in {path}")
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(f"pipeline file {path} does not exist")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def run_nightly(
    pipeline_paths: Sequence[str | Path],
    *,
    run_pipeline: RunPipeline,
    history: HistoryStore | None,
    baseline_ref: str | Path | PinnedBaselines | None = None,
    out_dir: str | Path,
    junit_path: str | Path | None = None,
    summary_path: str | Path | None = None,
    tolerances: Tolerances | None = None,
    plots: bool = True,
    plot_format: str = "svg",
    mlflow_uri: str | None = None,
    mlflow_experiment: str = "ovq-nightly",
    fan_out: Callable[[Sequence[tuple[Path, Path]]], RunPipeline] | None = None,
) -> NightlyResult:
    """Run every pipeline, gate it, record it, and write the CI files.

    ``run_pipeline(path, output_dir)`` runs one pipeline into ``output_dir`` and returns its report
    (a `Report` or a report.json document); it may raise instead (then ``output_dir/report.json`` is used
    if the run wrote one).
    ``history`` records each run and provides the last good run as the default baseline;
    ``baseline_ref`` pins a reference file instead (pipelines it does not name fall back to history).
    Problems with the job itself (a missing pipeline file, an unreadable baseline file, MLflow asked for
    but not installed) raise before any pipeline runs. ``fan_out(planned)``, when given, runs every
    (pipeline, run folder) pair at once (e.g. on Ray) and returns the ``run_pipeline`` that hands back each
    result; gating, history and CI files stay here, in this process.
    """
    started = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat()
    if plots and plot_format not in ("svg", "png"):
        raise ConfigError(f"trend plots are written as svg or png, not {plot_format!r}")
    files = find_pipeline_files(pipeline_paths)
    pinned = load_pinned_baselines(baseline_ref, tolerances) if isinstance(baseline_ref, (str, Path)) else baseline_ref
    if mlflow_uri is not None:
        from ovq.nightly.tracking import require_mlflow

        require_mlflow()
    tolerances = tolerances or Tolerances()
    out = Path(out_dir)
    outputs = [Path(p) for p in (junit_path, summary_path) if p is not None]
    check_output_dir(out, "nightly output folder (--out)")
    for file in outputs:
        check_output_file(file, "--junit" if file == junit_path else "--summary")
    shared = [*outputs, *([history.path] if history is not None else [])]
    with exclusive_outputs([out], shared):
        return _run_locked(
            files, run_pipeline, history, pinned, tolerances, out, junit_path, summary_path,
            plots, plot_format, mlflow_uri, mlflow_experiment, started, started_at, fan_out,
        )  # fmt: skip


def _run_locked(
    files: list[Path],
    run_pipeline: RunPipeline,
    history: HistoryStore | None,
    pinned: PinnedBaselines | None,
    tolerances: Tolerances,
    out: Path,
    junit_path: str | Path | None,
    summary_path: str | Path | None,
    plots: bool,
    plot_format: str,
    mlflow_uri: str | None,
    mlflow_experiment: str,
    started: float,
    started_at: str,
    fan_out: Callable[[Sequence[tuple[Path, Path]]], RunPipeline] | None,
) -> NightlyResult:
    outcomes: list[PipelineOutcome] = []
    used_dirs: set[str] = set()
    planned = [(path, out / _unique_name(path.stem, used_dirs)) for path in files]
    if fan_out is not None:
        run_pipeline = fan_out(planned)
    for path, run_dir in planned:
        outcome = _run_one(path, run_dir, run_pipeline)
        _gate(outcome, history, pinned, tolerances)
        _record(outcome, history)
        if plots and history is not None and outcome.run_id is not None:
            _plot(outcome, history, out / "trends", plot_format)
        if mlflow_uri is not None:
            _track(outcome, mlflow_uri, mlflow_experiment)
        outcomes.append(outcome)

    result = NightlyResult(outcomes=outcomes, started_at=started_at, duration_s=time.monotonic() - started)
    from ovq.nightly.ci_output import write_junit, write_markdown

    if junit_path is not None:
        result.junit_path = write_junit(result, junit_path)
    if summary_path is not None:
        result.summary_path = write_markdown(result, summary_path)
    result.result_path = write_json_atomic(out / "nightly.json", result.to_dict())
    return result


# -- one pipeline -------------------------------------------------------------------------------------


def _run_one(path: Path, run_dir: Path, run_pipeline: RunPipeline) -> PipelineOutcome:
    started_at = datetime.now(timezone.utc).isoformat()
    started = time.monotonic()
    started_wall = time.time()
    trace: str | None = None
    try:
        returned = run_pipeline(path, run_dir)
    except OvqError as exc:
        # The spine writes the failed run's report before raising, and says where (exc.run_dir).
        written_to = Path(getattr(exc, "run_dir", None) or run_dir)
        error = ReportError.model_validate(exc.to_dict())
        report, error_exit_code = report_of_failure(path, written_to, started_at, started_wall, error, exc.exit_code)
    except Exception as exc:
        # Not a user error: keep the traceback for the JUnit <error> and go on with the next pipeline.
        trace = traceback.format_exc()
        message = str(exc) or type(exc).__name__
        error = bug_error(type(exc).__name__, message, "this is a bug in ovq; the traceback is in the JUnit file")
        report, error_exit_code = report_of_failure(path, run_dir, started_at, started_wall, error, 1)
    else:
        report, error_exit_code = returned_report(returned, path, started_at)
    if report.status != "succeeded" and error_exit_code == 0:
        error_exit_code = exit_code_of(report.error)
    return PipelineOutcome(
        path=path,
        pipeline=report.pipeline or path.stem,
        report=report,
        run_dir=run_dir,
        duration_s=time.monotonic() - started,
        error_exit_code=error_exit_code,
        traceback=trace,
    )


def _gate(
    outcome: PipelineOutcome,
    history: HistoryStore | None,
    pinned: PinnedBaselines | None,
    tolerances: Tolerances,
) -> None:
    outcome.gates.extend(report_gates(outcome.report))
    baseline: Baseline | None = pinned.for_pipeline(outcome.pipeline) if pinned is not None else None
    if pinned is not None and baseline is None:
        outcome.notes.append(f"{pinned.path} does not pin {outcome.pipeline}; compared with the last good run")
    if baseline is None and history is not None:
        try:
            previous = history.last_good(outcome.pipeline, same_class_as=outcome.report.environment)
            other_class = history.last_good(outcome.pipeline) if previous is None else None
        except OvqError as exc:
            outcome.notes.append(f"could not read the history: {exc.message}")
            outcome.extra_exit_codes.append(exc.exit_code)
            previous = other_class = None
        if other_class is not None:
            # Another class's night is no baseline: its INT8 numerics and speeds are that machine's.
            then = other_class.report.get("environment", {}).get("cpu_class") or "another class"
            outcome.notes.append(
                f"not comparable: the last good run {other_class.run_id} was measured as CPU class {then}, this"
                f" one as {outcome.report.environment.cpu_class}; no baseline of this class yet"
            )
        if previous is not None:
            baseline = baseline_from_report(
                previous.report,
                tolerances,
                source=f"last good run {previous.run_id} ({previous.started_at[:16].replace('T', ' ')} UTC)",
            )
            outcome.baseline_run_id = previous.run_id
    if baseline is None:
        outcome.notes.append("no baseline yet: this run will be the first to compare against")
        return
    outcome.baseline_source = baseline.source
    outcome.changes = environment_changes(outcome.report, baseline.report)
    if not outcome.report.variants:
        outcome.notes.append("nothing to compare with the baseline: the run failed before measuring a variant")
        return
    gates = compare(outcome.report, baseline)
    outcome.gates.extend(_confirmed(gates, outcome, baseline, history))


def _confirmed(
    gates: list[GateResult], outcome: PipelineOutcome, baseline: Baseline, history: HistoryStore | None
) -> list[GateResult]:
    """Failed speed gates re-judged by a same-night A/B against the baseline's stored model (ovq.nightly.confirm)."""
    from ovq.nightly.artifacts import ArtifactStore
    from ovq.nightly.confirm import SPEED_GATES, confirm_speed_gates

    if not any(gate.name in SPEED_GATES and gate.status != "skipped" for gate in gates):
        return gates
    models = {}
    if history is not None and outcome.baseline_run_id is not None:
        store = ArtifactStore(history.path)
        models = {name: store.model_of(outcome.baseline_run_id, name) for name in baseline.variants}
    try:
        confirmed, notes = confirm_speed_gates(gates, outcome.report, outcome.run_dir, baseline, models)
    except OvqError as exc:
        # The A/B itself failed (a model that no longer compiles): keep the nights' verdict, say why.
        outcome.notes.append(f"the same-night A/B could not run: {exc.message}; gated on the nights' numbers")
        return gates
    outcome.notes.extend(notes)
    return confirmed


def _record(outcome: PipelineOutcome, history: HistoryStore | None) -> None:
    if history is None:
        return
    gate_status = "failed" if outcome.failed_gates else "passed"
    try:
        outcome.run_id = history.record(outcome.report, gate_status=gate_status)
    except OvqError as exc:
        # A run missing from history silently changes tomorrow's baseline, so it counts as a problem.
        outcome.notes.append(f"not recorded in the history: {exc.message}")
        outcome.extra_exit_codes.append(exc.exit_code)
        return
    _keep_models(outcome, history)


def _keep_models(outcome: PipelineOutcome, history: HistoryStore) -> None:
    """Keep the run's models beside the history, so a later night can re-measure them (ovq.nightly.artifacts)."""
    from ovq.nightly.artifacts import ArtifactStore

    if outcome.run_id is None or not outcome.succeeded:
        return
    models = {}
    for variant in outcome.report.variants:
        if variant.model_path and not variant.baseline:
            path = Path(variant.model_path)
            models[variant.name] = path if path.is_absolute() else outcome.run_dir / path
    keep = [outcome.baseline_run_id] if outcome.baseline_run_id is not None else []
    try:
        ArtifactStore(history.path).record_run(outcome.run_id, outcome.pipeline, models, keep=keep)
    except OSError as exc:
        # Without them a later regression cannot be confirmed by an A/B; the run itself is recorded.
        outcome.notes.append(
            f"the models were not kept beside the history ({exc.strerror or exc}): a regression"
            " tomorrow cannot be confirmed by a same-night A/B"
        )


def _plot(outcome: PipelineOutcome, history: HistoryStore, plot_dir: Path, plot_format: str) -> None:
    from ovq.nightly.trends import plot_trend

    try:
        # The pipeline name is user text: keep it from naming a path outside the plot folder.
        file_name = re.sub(r"[^A-Za-z0-9._-]", "_", outcome.pipeline).lstrip(".") or "pipeline"
        outcome.plot_path = plot_trend(history, outcome.pipeline, plot_dir / f"{file_name}.{plot_format}")
    except OvqError as exc:
        # A missing picture does not make the models worse: note it, keep the exit code.
        outcome.notes.append(f"no trend plot: {exc.message}")


def _track(outcome: PipelineOutcome, tracking_uri: str, experiment: str) -> None:
    from ovq.nightly.tracking import log_run

    try:
        mlflow_run_id = log_run(outcome.report, tracking_uri=tracking_uri, experiment=experiment)
    except OvqError as exc:
        outcome.notes.append(f"not logged to MLflow: {exc.message}")
    else:
        outcome.notes.append(f"logged to MLflow run {mlflow_run_id}")


# -- helpers ------------------------------------------------------------------------------------------


def _unique_name(stem: str, used: set[str]) -> str:
    name, index = stem, 2
    while name in used:
        name, index = f"{stem}-{index}", index + 1
    used.add(name)
    return name
