"""Optional MLflow tracking: a run's params, headline metrics and report.json, when asked for.

MLflow is not an ovq dependency; asking for tracking without it installed is a DependencyError with
the install command. A ``file://`` URI or a plain folder path is a local file store that needs no
server. MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set (it prefers a
database); a user who names a folder has chosen the file store, so ovq sets that variable for the
duration of the call. ``sqlite:///mlflow.db`` works too when the full ``mlflow`` package is installed.

Only ``MlflowClient`` is used (no fluent API), so no active run or tracking URI leaks into the
caller's own MLflow usage.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ovq.errors import DependencyError
from ovq.report.schema import ReportLike, VariantReport, parse_report

INSTALL_HINT = "pip install mlflow-skinny (or mlflow) into the environment ovq runs in"


def _headline_metrics(variant: VariantReport) -> dict[str, float | None]:
    """Headline metrics of one variant, by metric name suffix (None = not measured)."""
    accuracy, benchmark = variant.accuracy, variant.benchmark
    return {
        "accuracy": accuracy.value if accuracy else None,
        "accuracy_drop": accuracy.drop if accuracy else None,
        "throughput_fps": benchmark.throughput_fps if benchmark else None,
        "latency_median_ms": benchmark.latency_ms.median if benchmark else None,
        "latency_p99_ms": benchmark.latency_ms.p99 if benchmark else None,
        "size_bytes": float(variant.size_bytes) if variant.size_bytes is not None else None,
        "size_ratio": variant.size_ratio,
    }


_MAX_PARAM_LENGTH = 500


def mlflow_available() -> bool:
    """Whether MLflow can be imported here."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def require_mlflow() -> None:
    """Raise DependencyError (with the install command) unless MLflow is installed."""
    if not mlflow_available():
        raise DependencyError("MLflow tracking was asked for but mlflow is not installed", hint=INSTALL_HINT)


def tracking_uri_for(location: str | Path) -> str:
    """A tracking URI from a URI or a plain folder path (which becomes a local file store)."""
    text = str(location)
    if "://" in text or text.startswith(("file:", "sqlite:", "databricks")):
        return text
    return Path(text).expanduser().resolve().as_uri()


def run_params(report: ReportLike) -> dict[str, str]:
    """The run's parameters: what was run, on what, with which versions."""
    report = parse_report(report)
    environment = report.environment
    params: dict[str, Any] = {
        "pipeline": report.pipeline,
        "pipeline_file": report.pipeline_file,
        "config_digest": report.config_digest,
        "model_digest": report.model_digest,
        "deliverable": report.deliverable,
        "ovq_version": environment.ovq,
        "openvino_version": environment.openvino,
        "nncf_version": environment.nncf,
        "torch_version": environment.torch,
        "cpu": environment.cpu,
        "cpu_count": environment.cpu_count,
    }
    for variant in report.variants:
        params[f"{variant.name}.precision"] = variant.precision
        if variant.benchmark is not None and variant.benchmark.hint is not None:
            params[f"{variant.name}.hint"] = variant.benchmark.hint
    return {key: str(value)[:_MAX_PARAM_LENGTH] for key, value in params.items() if value is not None}


def run_metrics(report: ReportLike) -> dict[str, float]:
    """The run's headline metrics, named ``VARIANT.METRIC``, plus ``duration_s``."""
    report = parse_report(report)
    metrics: dict[str, float] = {}
    if report.duration_s is not None:
        metrics["duration_s"] = report.duration_s
    for variant in report.variants:
        for suffix, value in _headline_metrics(variant).items():
            if value is not None:
                metrics[f"{variant.name}.{suffix}"] = value
    return metrics


def log_run(
    report: ReportLike,
    *,
    tracking_uri: str | Path,
    experiment: str = "ovq",
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log one run report to MLflow and return the MLflow run id.

    Example::

        log_run(json.loads(Path("runs/q/report.json").read_text()), tracking_uri="mlruns")
    """
    require_mlflow()
    report = parse_report(report)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = tracking_uri_for(tracking_uri)
    with _file_store_allowed(uri):
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
        start_ms = _epoch_ms(report.started_at)
        all_tags = {
            "ovq.status": report.status,
            "ovq.pipeline": report.pipeline,
            **({"ovq.error_type": report.error.type} if report.error else {}),
            **(tags or {}),
        }
        run = client.create_run(
            experiment_id,
            start_time=start_ms,
            tags=all_tags,
            run_name=run_name or f"{report.pipeline} {(report.started_at or '')[:19]}",
        )
        run_id: str = run.info.run_id
        try:
            timestamp = start_ms if start_ms is not None else 0
            client.log_batch(
                run_id,
                metrics=[Metric(key, value, timestamp, 0) for key, value in run_metrics(report).items()],
                params=[Param(key, value) for key, value in run_params(report).items()],
                tags=[RunTag(key, value) for key, value in all_tags.items()],
            )
            client.log_dict(run_id, report.to_document(), "report.json")
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(
            run_id,
            status="FINISHED" if report.status == "succeeded" else "FAILED",
            end_time=_epoch_ms(report.finished_at),
        )
    return run_id


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    if not uri.startswith("file:"):
        yield
        return
    previous = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = previous


def _epoch_ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        return None
