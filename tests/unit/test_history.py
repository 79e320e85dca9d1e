"""The history store: records, queries, and several processes writing into one file at once."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ovq.errors import ConfigError, InputFileError
from ovq.nightly.history import SCHEMA_VERSION, HistoryStore
from ovq.report.schema import SCHEMA_VERSION as REPORT_SCHEMA_VERSION
from ovq.report.schema import parse_report


def make_report(
    pipeline: str = "quickstart",
    *,
    started_at: str = "2026-11-01T02:00:00+00:00",
    status: str = "succeeded",
    int8_accuracy: float = 0.98,
    int8_fps: float = 4000.0,
    writer: int = 0,
    index: int = 0,
) -> dict[str, Any]:
    def variant(name: str, precision: str, accuracy: float, fps: float, size: int) -> dict[str, Any]:
        return {
            "name": name,
            "precision": precision,
            "size_bytes": size,
            "accuracy": {
                "metric": "top1",
                "value": accuracy,
                "drop": 0.99 - accuracy,
                "higher_is_better": True,
            },
            "benchmark": {
                "hint": "throughput",
                "throughput_fps": fps,
                "latency_ms": {"median": 1000.0 / fps},
            },
        }

    return {
        "schema_version": 1,
        "status": status,
        "pipeline": pipeline,
        "config_digest": "cfg-1",
        "started_at": started_at,
        "finished_at": started_at,
        "duration_s": 12.5,
        "environment": {"ovq": "0.1.0", "openvino": "2026.4.1", "nncf": "3.4.0", "cpu": "Test CPU"},
        "variants": [
            variant("fp32", "fp32", 0.99, 1500.0, 400_000),
            variant("int8", "int8", int8_accuracy, int8_fps, 110_000),
        ],
        "error": None if status == "succeeded" else {"stage": "quantize", "type": "StageError", "message": "x"},
        "writer": writer,
        "index": index,
        # Bulk, so that a torn write would show up as JSON that does not parse.
        "padding": [float(i) for i in range(101)],
    }


def test_record_get_and_list_round_trip(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    first = store.record(make_report(started_at="2026-11-01T02:00:00Z"), model_digest="sha256:abc")
    second = store.record(make_report(started_at="2026-11-02T02:00:00+01:00"))

    record = store.get(first)
    # The store keeps the report as the contract reads it: upgraded to the current schema_version.
    assert record.report["schema_version"] == REPORT_SCHEMA_VERSION
    assert parse_report(record.report) == parse_report(make_report(started_at="2026-11-01T02:00:00Z"))
    assert record.model_digest == "sha256:abc"
    assert (record.openvino_version, record.nncf_version, record.cpu) == ("2026.4.1", "3.4.0", "Test CPU")
    assert record.config_digest == "cfg-1"
    # Times are normalized to UTC so that their string order is their time order.
    assert record.started_at == "2026-11-01T02:00:00.000000+00:00"
    assert store.get(second).started_at == "2026-11-02T01:00:00.000000+00:00"
    assert [v.variant for v in record.variants] == ["fp32", "int8"]
    assert record.variants[1].throughput_fps == 4000.0

    listed = store.list()
    assert [run.run_id for run in listed] == [second, first]
    assert store.list(pipeline="other") == []
    assert len(store.list(limit=1)) == 1


def test_last_good_skips_failed_runs_and_failed_gates(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    good = store.record(make_report(started_at="2026-11-01T02:00:00Z"), gate_status="passed")
    store.record(make_report(started_at="2026-11-02T02:00:00Z", status="failed"))
    regressed = store.record(make_report(started_at="2026-11-03T02:00:00Z", int8_fps=100.0), gate_status="failed")

    last = store.last_good("quickstart")
    assert last is not None and last.run_id == good
    assert store.last_good("quickstart", before=good) is None
    assert store.last_good("unknown") is None

    store.set_gate_status(regressed, "passed")  # e.g. a human accepted the slowdown
    last = store.last_good("quickstart")
    assert last is not None and last.run_id == regressed
    assert store.last_good("quickstart", before="2026-11-02T00:00:00Z").run_id == good  # type: ignore[union-attr]


def test_series_is_in_time_order_whatever_the_recording_order(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    store.record(make_report(started_at="2026-11-03T02:00:00Z", int8_fps=3000.0))
    store.record(make_report(started_at="2026-11-01T02:00:00Z", int8_fps=1000.0))
    store.record(make_report(started_at="2026-11-02T02:00:00Z", int8_fps=2000.0))

    points = store.series("quickstart", "int8", "throughput_fps")
    assert [p.value for p in points] == [1000.0, 2000.0, 3000.0]
    assert store.variants("quickstart") == ["fp32", "int8"]
    with pytest.raises(ConfigError, match="unknown history metric 'fps'"):
        store.series("quickstart", "int8", "fps")


def test_problems_with_the_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no run history at"):
        HistoryStore(tmp_path / "missing.sqlite", create=False)

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputFileError, match="unreadable"):
        HistoryStore(garbage)

    newer = tmp_path / "newer.sqlite"
    HistoryStore(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE ovq_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(InputFileError, match="schema version 2"):
        HistoryStore(newer)

    store = HistoryStore(tmp_path / "h.sqlite")
    with pytest.raises(ConfigError, match="no run 42"):
        store.get(42)
    with pytest.raises(ConfigError, match="pipeline"):
        store.record({"status": "succeeded"})


# -- concurrency ----------------------------------------------------------------------------------------


def _writer(path: str, writer: int, writes: int, start: Any, busy_timeout_s: float) -> None:
    start.wait()
    # Each process opens its own store: the schema creation races too.
    store = HistoryStore(path, busy_timeout_s=busy_timeout_s)
    for index in range(writes):
        store.record(
            make_report(started_at=f"2026-11-01T02:{writer:02d}:{index % 60:02d}Z", writer=writer, index=index)
        )


def _reader(path: str, until: float, start: Any) -> None:
    start.wait()
    store = HistoryStore(path)
    while time.monotonic() < until:
        for summary in store.list(limit=5):
            # A run is never visible without its variant rows (they commit together).
            assert len(summary.variants) == 2, summary


def run_concurrent_writers(
    path: Path, writers: int, writes: int, readers: int = 1, busy_timeout_s: float = 10.0
) -> dict[str, float]:
    """N processes × M writes into one store (plus readers); return the figures."""
    context = multiprocessing.get_context("spawn")
    # Every process waits at the barrier after its imports, so the writes really overlap.
    start = context.Barrier(writers + readers + 1)
    processes = [
        context.Process(target=_writer, args=(str(path), w, writes, start, busy_timeout_s)) for w in range(writers)
    ]
    processes += [
        context.Process(target=_reader, args=(str(path), time.monotonic() + 60.0, start)) for _ in range(readers)
    ]
    for process in processes:
        process.start()
    start.wait(timeout=60)
    began = time.perf_counter()
    for process in processes[:writers]:
        process.join(timeout=120)
    elapsed = time.perf_counter() - began
    for process in processes[writers:]:
        # Still running (or done): a reader that saw a torn run would have exited with an error.
        assert process.exitcode in (None, 0), process.exitcode
        process.terminate()
        process.join(timeout=10)
    exit_codes = [process.exitcode for process in processes[:writers]]
    assert exit_codes == [0] * writers, exit_codes
    return {"rows": 0, "writers": writers, "writes_each": writes, "elapsed_s": elapsed, "writes_per_s": 0.0}


# busy_timeout_s=0 turns SQLite's own waiting off, so every collision goes through ovq's retry loop.
@pytest.mark.parametrize("busy_timeout_s", [10.0, 0.0], ids=["busy-timeout", "retry-loop"])
def test_concurrent_writers_lose_and_tear_nothing(tmp_path: Path, busy_timeout_s: float) -> None:
    path = tmp_path / "shared.sqlite"
    writers, writes = 4, 40
    figures = run_concurrent_writers(path, writers, writes, busy_timeout_s=busy_timeout_s)

    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT report_json FROM runs").fetchall()
        variant_rows = conn.execute("SELECT COUNT(*) FROM run_variants").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reports = [json.loads(row[0]) for row in rows]
    assert len(reports) == writers * writes
    assert variant_rows == 2 * writers * writes
    assert {(r["writer"], r["index"]) for r in reports} == {(w, i) for w in range(writers) for i in range(writes)}
    assert all(r["padding"] == [float(i) for i in range(101)] for r in reports)

    figures["rows"] = len(reports)
    figures["writes_per_s"] = len(reports) / figures["elapsed_s"]
    print(
        f"\nhistory concurrency (busy timeout {busy_timeout_s:g} s): {figures['rows']:.0f} rows from "
        f"{writers} writer processes × {writes} writes "
        f"(+1 reader) in {figures['elapsed_s']:.2f} s = {figures['writes_per_s']:.0f} writes/s"
    )


if __name__ == "__main__":
    # A bigger run for the numbers: python tests/unit/test_history.py [WRITERS] [WRITES]
    import tempfile

    n_writers = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    n_writes = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as folder:
        result = run_concurrent_writers(Path(folder) / "h.sqlite", n_writers, n_writes)
        count = HistoryStore(Path(folder) / "h.sqlite").count()
        print(
            f"{count} rows (expected {n_writers * n_writes}) from {n_writers} writers in "
            f"{result['elapsed_s']:.2f} s = {count / result['elapsed_s']:.0f} writes/s"
        )
