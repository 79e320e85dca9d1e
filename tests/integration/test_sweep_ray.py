"""Sweeps and nightly jobs on a real multi-node Ray cluster, all on the loopback address (Ray's own
test utility starts several nodes on this machine): same results as the local executor, a node killed
mid-sweep, user errors not retried. And `ovq sweep --executor ray` stopped as a terminal or CI stops it:
SIGINT/SIGTERM to its whole process group."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# Read by Ray at import time: every address on loopback, no usage statistics.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ovq[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

from ovq.nightly.history import HistoryStore  # noqa: E402
from ovq.nightly.runner import run_nightly  # noqa: E402
from ovq.sweep.executors import LocalExecutor, SweepInterrupted  # noqa: E402
from ovq.sweep.nightly import nightly_fan_out  # noqa: E402
from ovq.sweep.ray_executor import NODE_RESOURCE, RayExecutor  # noqa: E402
from ovq.sweep.runner import run_sweep  # noqa: E402
from ovq.sweep.task import RunResult, RunTask  # noqa: E402
from tests import tiny_models  # noqa: E402
from tests.sweep_helpers import EIGHT_RUNS, comparable, write_sweep, write_tiny_pipeline  # noqa: E402

pytestmark = pytest.mark.slow


def graph(xml: Path) -> str:
    return re.sub(r'name="(\w+?)_\d+"', r'name="\1_N"', xml.read_text())


REPO = Path(__file__).resolve().parents[2]
PROGRESS = re.compile(r"^[✓✗] \d{3}-tiny ")
CRASH = re.compile(r"Traceback|\*\*\* SIG|Fatal Python error|core dumped")


def session_members(sid: int) -> list[str]:
    """Live (not zombie) processes of session sid, read from /proc: "pid pgid name"."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        state, pgid, session = fields[0], fields[2], int(fields[3])
        if session == sid and state != "Z":
            members.append(f"{entry.name} {pgid} {name}")
    return members


LISTENING_ADDRESSES = r"""
import json, os, sys
from pathlib import Path
import ray  # imported first, as user code may: ovq must still keep its instance on loopback
from ovq.sweep.ray_executor import start_local_ray

start_local_ray()
ray.get([ray.remote(lambda: 1).remote() for _ in range(2)])  # workers up
inodes = set()
for entry in Path("/proc").iterdir():
    try:
        if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == os.getsid(0):
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            inodes |= {link[8:-1] for link in links if link.startswith("socket:")}
    except OSError:
        continue
found = []
for table in ("tcp", "tcp6"):
    for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # LISTEN, one of this session's sockets
            found.append(fields[1].split(":")[0])
ray.shutdown()
print(json.dumps(found))
"""
IPV4_LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it; tcp6 writes it IPv4-mapped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/net: Linux")
def test_the_private_ray_instance_listens_on_loopback_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", LISTENING_ADDRESSES], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=120, start_new_session=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    addresses = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(addresses) >= 3  # GCS, raylet, workers: the check saw Ray's sockets
    # Ray imported before ovq set its environment used to listen on every interface (all zeros) and put its
    # runtime-env agent on the host's address.
    assert [a for a in addresses if not a.endswith(IPV4_LOOPBACK)] == []


# Defined before the tests that use the module's cluster: it runs first, on a quiet machine, and its driver
# starts a private Ray instance of its own (the default of `ovq sweep --executor ray`).
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc: Linux")
@pytest.mark.parametrize(
    ("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_to_the_whole_process_group_stops_a_ray_sweep_cleanly(
    tmp_path: Path, signum: signal.Signals, word: str
) -> None:
    """Ctrl-C in a terminal (SIGINT) and `kill -- -PGID` / a CI timeout (SIGTERM) reach every process of
    the foreground process group, Ray's own processes included: the sweep still cancels what is in flight,
    writes its report naming the runs that finished, exits 128 + signal with one line, and leaves nothing
    running."""
    pipeline = write_tiny_pipeline(tmp_path)
    sweep_file = write_sweep(tmp_path, EIGHT_RUNS, pipelines=[pipeline.name])
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(REPO), PYTHONIOENCODING="utf-8")
    command = [sys.executable, "-m", "ovq.cli.app", "sweep", str(sweep_file), "-o", str(out), "--executor", "ray"]
    started = time.monotonic()
    # Its own session and process group, whose leader is the CLI: what a shell does for a foreground job.
    driver = subprocess.Popen(
        [*command, "--no-cache"], cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )  # fmt: skip
    lines: list[str] = []
    first_result = threading.Event()

    def read_stderr() -> None:
        assert driver.stderr is not None
        for line in driver.stderr:
            lines.append(line.rstrip("\n"))
            if PROGRESS.match(line):
                first_result.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert first_result.wait(timeout=120), "no run finished:\n" + "\n".join(lines)
        os.killpg(driver.pid, signum)  # the whole group, as the terminal (or `kill -- -PGID`) does
        try:
            code = driver.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ovq sweep hung after {signum.name}:\n" + "\n".join(lines))
        reader.join(timeout=5)
        stopped = time.monotonic()
        left = session_members(driver.pid)
        while left and time.monotonic() - stopped < 5:
            time.sleep(0.2)
            left = session_members(driver.pid)
    finally:
        for member in session_members(driver.pid):  # a failed run of this test must not leave Ray behind
            os.kill(int(member.split()[0]), signal.SIGKILL)
        if driver.poll() is None:
            driver.kill()
    stderr = "\n".join(lines)
    assert code == 128 + signum, f"{stderr}\nleft running: {left}"
    assert not CRASH.search(stderr), stderr
    assert not left, f"still running {signum.name} + 5 s after the driver exited: {left}"
    first = next(i for i, line in enumerate(lines) if PROGRESS.match(line))
    message = [line for line in lines[first:] if not PROGRESS.match(line)]
    assert len(message) == 1, stderr
    assert re.fullmatch(rf"{word}: \d of 8 runs finished; sweep report written", message[0]), stderr

    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "interrupted" and sweep["exit_code"] == 128 + signum
    finished = sweep["finished_runs"]
    assert lines[first].split()[1] in finished and len(finished) < 8
    assert f"{len(finished)} of 8 runs finished" in message[0]
    assert all(run["status"] == "cancelled" for run in sweep["runs"] if run["run_id"] not in finished)
    print(f"{signum.name}: {len(finished)} of 8 finished, {time.monotonic() - started:.1f} s in all")


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Cluster, list[Any]]]:
    """A head and two worker nodes, one ovq_node slot each, on 127.0.0.1; the workers can be killed."""
    node = {"num_cpus": 1, "resources": {NODE_RESOURCE: 1}, "node_ip_address": "127.0.0.1"}
    local = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    workers = [local.add_node(**node) for _ in range(2)]
    ray.init(address=local.address, log_to_driver=False)
    local.wait_for_nodes()
    yield local, workers
    ray.shutdown()
    local.shutdown()


def test_a_sweep_on_a_cluster_survives_a_lost_node_and_matches_the_local_executor(
    cluster: tuple[Cluster, list[Any]], tmp_path: Path
) -> None:
    local_cluster, workers = cluster
    assert all(node["NodeManagerAddress"] == "127.0.0.1" for node in ray.nodes())
    pipeline = write_tiny_pipeline(tmp_path)
    sweep_file = write_sweep(tmp_path, EIGHT_RUNS, pipelines=[pipeline.name], collect="all")

    killed: list[str] = []

    def kill_a_busy_worker(task: RunTask, result: RunResult) -> None:
        # After the first result the other nodes are mid-run: take one of them away.
        if not killed:
            victim = next(w for w in workers if w.node_id != result.node.get("ray_node_id"))
            killed.append(victim.node_id)
            local_cluster.remove_node(victim)

    on_ray = run_sweep(
        sweep_file, out_dir=tmp_path / "ray", executor=RayExecutor(), cache=False, on_result=kill_a_busy_worker
    )
    assert on_ray["status"] == "succeeded", [run["error"] for run in on_ray["runs"]]
    assert on_ray["placement"]["lost_nodes"] == killed
    assert any("lost" in note for note in on_ray["notes"])
    ran_on = {run["node"]["ray_node_id"] for run in on_ray["runs"]}
    assert len(ran_on) >= 2 and all(run["node"]["cpu"] for run in on_ray["runs"])

    locally = run_sweep(sweep_file, out_dir=tmp_path / "local", executor=LocalExecutor(), cache=False)
    assert comparable(on_ray) == comparable(locally)
    # The quantized IRs handed back through Ray's object store: the same weights byte for byte, the same
    # graph apart from the per-process numbers OpenVINO gives the operations it creates.
    for run in locally["runs"]:
        local_ir = tmp_path / "local" / "artifacts" / run["run_id"] / "int8"
        ray_ir = tmp_path / "ray" / "artifacts" / run["run_id"] / "int8"
        assert (local_ir / "model.bin").read_bytes() == (ray_ir / "model.bin").read_bytes()
        assert graph(local_ir / "model.xml") == graph(ray_ir / "model.xml")
    # Every node of this cluster is the same machine: no mixed-machine warning.
    assert not on_ray["mixed_machines"] and len(on_ray["machines"]) == 1


def test_nightly_through_ray_records_history_in_the_driver_and_keeps_user_errors(
    cluster: tuple[Cluster, list[Any]], tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    write_tiny_pipeline(jobs, name="good")
    tiny_models.write_npz(jobs / "wrong.npz", shape=(1, 3, 8, 8))
    bad = yaml.safe_load((jobs / "good.yaml").read_text())
    bad["name"] = "bad"
    bad["datasets"]["data"]["path"] = "wrong.npz"
    (jobs / "bad.yaml").write_text(yaml.safe_dump(bad))
    history = HistoryStore(tmp_path / "history.sqlite")
    result = run_nightly(
        [jobs],
        run_pipeline=lambda path, out: pytest.fail("fanned out: nothing runs in the driver"),
        history=history,
        out_dir=tmp_path / "nightly",
        plots=False,
        fan_out=nightly_fan_out(RayExecutor()),
    )
    outcomes = {outcome.pipeline: outcome for outcome in result.outcomes}
    assert outcomes["good"].ok, outcomes["good"].to_dict()
    # A data mismatch is the user's: reported with its exit code (8), not retried into something else.
    assert outcomes["bad"].exit_code == 8
    assert outcomes["bad"].error is not None and outcomes["bad"].error.type == "DataMismatchError"
    assert result.exit_code == 8
    assert sorted(run.pipeline for run in history.list()) == ["bad", "good"]
    report = json.loads((tmp_path / "nightly" / "good" / "report.json").read_text())
    assert report["status"] == "succeeded" and report["variants"][1]["benchmark"]["throughput_fps"] > 0


def test_ctrl_c_on_a_cluster_cancels_the_tasks_in_flight_and_reports_what_finished(
    cluster: tuple[Cluster, list[Any]], tmp_path: Path
) -> None:
    pipeline = write_tiny_pipeline(tmp_path)
    sweep_file = write_sweep(tmp_path, EIGHT_RUNS, pipelines=[pipeline.name])
    out = tmp_path / "out"
    first: list[str] = []

    def press_ctrl_c(task: RunTask, result: RunResult) -> None:
        if not first:
            first.append(task.run_id)
            signal.raise_signal(signal.SIGINT)  # a real SIGINT, delivered to the driver's process

    with pytest.raises(SweepInterrupted):
        run_sweep(sweep_file, out_dir=out, executor=RayExecutor(), cache=False, on_result=press_ctrl_c)
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "interrupted" and sweep["exit_code"] == 130
    finished = sweep["finished_runs"]
    assert first[0] in finished and len(finished) < 8
    statuses = {run["run_id"]: run["status"] for run in sweep["runs"]}
    assert all(statuses[run_id] == "cancelled" for run_id in statuses if run_id not in finished)
    assert any(f"{len(finished)} of 8 runs finished" in note for note in sweep["notes"])
    # Cancelled means stopped: every node's ovq_node slot is free again (no run of the sweep still holds one).
    total = ray.cluster_resources()[NODE_RESOURCE]
    deadline = time.monotonic() + 1  # the 6+ runs left would hold slots for seconds had they gone on
    while time.monotonic() < deadline and ray.available_resources().get(NODE_RESOURCE, 0) < total:
        time.sleep(0.5)
    assert ray.available_resources().get(NODE_RESOURCE, 0) == total
