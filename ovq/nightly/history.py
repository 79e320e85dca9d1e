"""The nightly history store: every run's report in one SQLite file, safe with several writers.

SQLite needs no server, and with write-ahead logging several nightly jobs on one machine can record
into the same file at once: each write is one short ``BEGIN IMMEDIATE`` transaction (the run row and
its per-variant headline metrics together, so a reader never sees half a run), a busy writer waits
on SQLite's busy timeout, and what still fails with SQLITE_BUSY is retried with jittered back-off.
WAL needs shared memory, so the file must live on a local disk, not on NFS/SMB.

Example::

    store = HistoryStore(".ovq/history.sqlite")
    run_id = store.record(report, model_digest="sha256:...")
    previous = store.last_good("quickstart", before=run_id)
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ovq.errors import ConfigError, InputFileError
from ovq.nightly.history_rows import RUN_COLUMNS, TABLES, normalize_time, run_row, variant_row
from ovq.report.schema import Environment, ReportFormatError, ReportLike, parse_report

SCHEMA_VERSION = 1
DEFAULT_HISTORY_PATH = Path(".ovq") / "history.sqlite"

# Headline columns that `series` may be asked for; the names are also the report contract's names.
SERIES_METRICS: tuple[str, ...] = (
    "accuracy",
    "accuracy_drop",
    "throughput_fps",
    "latency_median_ms",
    "size_bytes",
)

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

T = TypeVar("T")


@dataclass(frozen=True)
class VariantHeadline:
    """The few numbers per variant that trends and baselines are made of (None = not measured)."""

    variant: str
    precision: str | None
    accuracy_metric: str | None
    accuracy: float | None
    accuracy_drop: float | None
    throughput_fps: float | None
    latency_median_ms: float | None
    size_bytes: int | None


@dataclass(frozen=True)
class RunSummary:
    """One recorded run without its full report (what `HistoryStore.list` returns)."""

    run_id: int
    pipeline: str
    started_at: str
    finished_at: str | None
    recorded_at: str
    duration_s: float | None
    status: str
    gate_status: str | None
    error_type: str | None
    ovq_version: str | None
    openvino_version: str | None
    nncf_version: str | None
    cpu: str | None
    config_digest: str | None
    model_digest: str | None
    deliverable: str | None
    variants: tuple[VariantHeadline, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for `ovq history --json`)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunRecord(RunSummary):
    """One recorded run with its report document (as recorded: older rows may hold older schema versions;
    ``parse_report`` reads any of them)."""

    report: dict[str, Any]


@dataclass(frozen=True)
class SeriesPoint:
    """One run's value of one metric, for trend plots."""

    run_id: int
    started_at: str
    value: float
    status: str
    gate_status: str | None


class HistoryStore:
    """Run history in an SQLite file (created on first use unless ``create=False``)."""

    def __init__(
        self,
        path: str | Path = DEFAULT_HISTORY_PATH,
        *,
        create: bool = True,
        busy_timeout_s: float = 10.0,
        lock_deadline_s: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._lock_deadline_s = lock_deadline_s
        if not self.path.exists():
            if not create:
                raise InputFileError(
                    f"no run history at {self.path}",
                    hint="run `ovq nightly` (or pass --history PATH) to record runs first",
                )
            from ovq.runtime.output_paths import check_output_dir

            check_output_dir(self.path.parent, "history file (--history) folder")
        elif self.path.is_dir():
            raise InputFileError(f"the history store {self.path} is a folder, not an SQLite file")
        self._initialize()

    # -- writing -------------------------------------------------------------------------------------

    def record(
        self,
        report: ReportLike,
        *,
        model_digest: str | None = None,
        gate_status: str | None = None,
    ) -> int:
        """Record one run report and return its run id.

        ``gate_status`` is the nightly verdict ("passed"/"failed"); a succeeded run whose gates
        failed is never picked by `last_good`, so a regression cannot become tomorrow's baseline.
        """
        if gate_status not in (None, "passed", "failed"):
            raise ConfigError(f"gate_status must be 'passed', 'failed' or None, not {gate_status!r}")
        try:
            parsed = parse_report(report)
        except ReportFormatError as error:
            raise ConfigError(f"cannot record this report: {error}", hint="record the report.json of a run") from None
        row = run_row(parsed, model_digest=model_digest, gate_status=gate_status)
        variant_rows = [variant_row(variant) for variant in parsed.variants]
        report_json = json.dumps(parsed.to_document(), sort_keys=True, allow_nan=False)

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO runs (pipeline, started_at, finished_at, recorded_at, duration_s, status, "
                "gate_status, error_type, ovq_version, openvino_version, nncf_version, cpu, config_digest, "
                "model_digest, deliverable, report_json) "
                f"VALUES ({', '.join('?' * 16)})",
                (*row, report_json),
            )
            run_id = cursor.lastrowid
            assert run_id is not None  # an INSERT into a rowid table always sets it
            conn.executemany(
                "INSERT INTO run_variants (run_id, variant, precision, accuracy_metric, accuracy, "
                "accuracy_drop, throughput_fps, latency_median_ms, size_bytes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *variant_row) for variant_row in variant_rows],
            )
            return run_id

        return self._transaction(insert, write=True)

    def set_gate_status(self, run_id: int, gate_status: str) -> None:
        """Set the nightly verdict of an already recorded run."""
        if gate_status not in ("passed", "failed"):
            raise ConfigError(f"gate_status must be 'passed' or 'failed', not {gate_status!r}")

        def update(conn: sqlite3.Connection) -> int:
            return conn.execute("UPDATE runs SET gate_status = ? WHERE run_id = ?", (gate_status, run_id)).rowcount

        if self._transaction(update, write=True) == 0:
            raise _no_such_run(run_id, self.path)

    # -- reading -------------------------------------------------------------------------------------

    def list(self, pipeline: str | None = None, limit: int | None = 20) -> list[RunSummary]:
        """The most recent runs first, optionally of one pipeline; ``limit=None`` lists all."""
        where, params = ("WHERE pipeline = ?", [pipeline]) if pipeline is not None else ("", [])
        params_any: list[Any] = list(params)
        limit_sql = ""
        if limit is not None:
            limit_sql = " LIMIT ?"
            params_any.append(max(limit, 0))
        sql = f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, run_id DESC{limit_sql}"

        def query(conn: sqlite3.Connection) -> list[RunSummary]:
            rows = conn.execute(sql, params_any).fetchall()
            headlines = _headlines(conn, [row[0] for row in rows])
            return [_summary(row, headlines.get(row[0], ())) for row in rows]

        return self._transaction(query, write=False)

    def get(self, run_id: int) -> RunRecord:
        """One run with its full report; a ConfigError names the id when there is no such run."""

        def query(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(f"SELECT {RUN_COLUMNS}, report_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            return _record(row, _headlines(conn, [run_id]).get(run_id, ()))

        record = self._transaction(query, write=False)
        if record is None:
            raise _no_such_run(run_id, self.path)
        return record

    def last_good(
        self,
        pipeline: str,
        *,
        before: int | str | None = None,
        same_class_as: Environment | None = None,
    ) -> RunRecord | None:
        """The latest run of ``pipeline`` that succeeded and did not fail a nightly gate.

        ``before`` limits the search to runs older than a run id (int) or an ISO-8601 time (str).
        ``same_class_as``: only runs measured as the same CPU class as that environment (INT8 numerics and
        speed differ by class, so another class's run is no baseline). A row recorded before ovq knew the
        class matches when its CPU model string is the same.
        """
        conditions = ["pipeline = ?", "status = 'succeeded'", "COALESCE(gate_status, 'passed') = 'passed'"]
        params: list[Any] = [pipeline]
        if same_class_as is not None and same_class_as.cpu_class is not None:
            recorded_class = "json_extract(report_json, '$.environment.cpu_class')"
            conditions.append(f"({recorded_class} = ? OR ({recorded_class} IS NULL AND cpu IS ?))")
            params.extend([same_class_as.cpu_class, same_class_as.cpu])
        if isinstance(before, int):
            conditions.append("run_id < ?")
            params.append(before)
        elif isinstance(before, str):
            conditions.append("started_at < ?")
            params.append(normalize_time(before, "before"))
        sql = (
            f"SELECT {RUN_COLUMNS}, report_json FROM runs WHERE {' AND '.join(conditions)} "
            "ORDER BY started_at DESC, run_id DESC LIMIT 1"
        )

        def query(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(sql, params).fetchone()
            if row is None:
                return None
            return _record(row, _headlines(conn, [row[0]]).get(row[0], ()))

        return self._transaction(query, write=False)

    def series(self, pipeline: str, variant: str, metric: str) -> builtins.list[SeriesPoint]:
        """One metric of one variant over the recorded runs, oldest first (unmeasured runs left out)."""
        if metric not in SERIES_METRICS:
            raise ConfigError(f"unknown history metric {metric!r}", hint=f"choose one of: {', '.join(SERIES_METRICS)}")
        # `metric` is one of the fixed column names checked above, never user text in the SQL.
        sql = (
            f"SELECT r.run_id, r.started_at, v.{metric}, r.status, r.gate_status "
            "FROM runs r JOIN run_variants v ON v.run_id = r.run_id "
            f"WHERE r.pipeline = ? AND v.variant = ? AND v.{metric} IS NOT NULL "
            "ORDER BY r.started_at, r.run_id"
        )

        def query(conn: sqlite3.Connection) -> list[SeriesPoint]:
            return [
                SeriesPoint(run_id=row[0], started_at=row[1], value=float(row[2]), status=row[3], gate_status=row[4])
                for row in conn.execute(sql, (pipeline, variant))
            ]

        return self._transaction(query, write=False)

    def pipelines(self) -> builtins.list[str]:
        """The names of every pipeline with at least one recorded run."""
        return self._transaction(
            lambda conn: [row[0] for row in conn.execute("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline")],
            write=False,
        )

    def variants(self, pipeline: str) -> builtins.list[str]:
        """The variant names recorded for ``pipeline``, in the order they first appeared."""
        sql = (
            "SELECT v.variant FROM run_variants v JOIN runs r ON r.run_id = v.run_id WHERE r.pipeline = ? "
            "GROUP BY v.variant ORDER BY MIN(v.run_id), MIN(v.rowid)"
        )
        return self._transaction(lambda conn: [row[0] for row in conn.execute(sql, (pipeline,))], write=False)

    def count(self, pipeline: str | None = None) -> int:
        """How many runs are recorded (of one pipeline, or in all)."""
        sql, params = "SELECT COUNT(*) FROM runs", []
        if pipeline is not None:
            sql, params = "SELECT COUNT(*) FROM runs WHERE pipeline = ?", [pipeline]
        return int(self._transaction(lambda conn: conn.execute(sql, params).fetchone()[0], write=False))

    # -- plumbing ------------------------------------------------------------------------------------

    def _initialize(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            for statement in TABLES.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT MAX(version) FROM ovq_schema").fetchone()
            version = row[0] if row else None
            if version is None:
                conn.execute("INSERT INTO ovq_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise InputFileError(
                    f"the history store {self.path} has schema version {version}; "
                    f"this ovq reads up to {SCHEMA_VERSION}",
                    hint="upgrade ovq, or point --history at another file",
                )

        def enable_wal(conn: sqlite3.Connection) -> None:
            # WAL is a property of the file: set once, every later connection uses it.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise InputFileError(
                    f"the history store {self.path} cannot use write-ahead logging (journal mode {mode})",
                    hint="keep the history file on a local disk, not on a network share",
                )

        self._transaction(enable_wal, write=False, begin=False)
        self._transaction(create, write=True)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: the module opens no implicit transactions; ours are explicit and short.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    def _transaction(self, work: Callable[[sqlite3.Connection], T], *, write: bool, begin: bool = True) -> T:
        """Run ``work`` in one transaction, retrying the whole of it while the file is busy."""
        deadline = time.monotonic() + self._lock_deadline_s
        attempt = 0
        while True:
            try:
                with self._connect() as conn:
                    if not begin:
                        return work(conn)
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        result = work(conn)
                    except BaseException:
                        # SQLite may already have rolled back (e.g. after SQLITE_BUSY mid-transaction).
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return result
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise _store_error(self.path, exc) from exc
                if time.monotonic() >= deadline:
                    raise InputFileError(
                        f"the history store {self.path} stayed locked for {self._lock_deadline_s:.0f} s",
                        hint="another process holds a long write lock on it; retry when it has finished",
                    ) from exc
                # Jitter spreads writers that collided so they do not collide again in lock-step.
                time.sleep(min(0.02 * 2**attempt, 0.5) * random.uniform(0.5, 1.5))
                attempt += 1
            except sqlite3.DatabaseError as exc:
                raise _store_error(self.path, exc) from exc


# -- reading rows ------------------------------------------------------------------------------------


def _headlines(conn: sqlite3.Connection, run_ids: list[int]) -> dict[int, tuple[VariantHeadline, ...]]:
    if not run_ids:
        return {}
    placeholders = ", ".join("?" for _ in run_ids)
    grouped: dict[int, list[VariantHeadline]] = {}
    for row in conn.execute(
        "SELECT run_id, variant, precision, accuracy_metric, accuracy, accuracy_drop, throughput_fps, "
        f"latency_median_ms, size_bytes FROM run_variants WHERE run_id IN ({placeholders}) "
        "ORDER BY run_id, rowid",
        run_ids,
    ):
        grouped.setdefault(row[0], []).append(VariantHeadline(*row[1:]))
    return {run_id: tuple(items) for run_id, items in grouped.items()}


def _run_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [name.strip() for name in RUN_COLUMNS.split(",")]
    return dict(zip(names, row[: len(names)], strict=True))


def _summary(row: tuple[Any, ...], variants: tuple[VariantHeadline, ...]) -> RunSummary:
    return RunSummary(**_run_fields(row), variants=variants)


def _record(row: tuple[Any, ...], variants: tuple[VariantHeadline, ...]) -> RunRecord:
    return RunRecord(**_run_fields(row), variants=variants, report=json.loads(row[-1]))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _store_error(path: Path, exc: sqlite3.Error) -> InputFileError:
    return InputFileError(
        f"the history store {path} is unreadable: {exc}",
        hint="point --history at another file, or move this one aside to start a new history",
    )


def _no_such_run(run_id: int, path: Path) -> ConfigError:
    return ConfigError(f"no run {run_id} in the history store {path}", hint="`ovq history` lists the recorded runs")
