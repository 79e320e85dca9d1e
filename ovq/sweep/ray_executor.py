"""The Ray executor (optional extra `ovq[ray]`): the same tasks as the local executor, placed on a cluster.

Placement keeps measurements honest. Every node offers one unit of the custom resource ``ovq_node``
(ovq starts its local instance that way; cluster nodes are started with
``ray start ... --resources='{"ovq_node": 1}'``). A run with a benchmark stage asks for the whole unit, so
nothing else runs on its node while it measures; a run without one asks for ``1/tasks_per_node`` and may
share. Both ask for no Ray CPUs: OpenVINO uses every core of the node it runs on.

CPU classes: a node also offers one unit of ``ovq_class_<class>`` (its class after any ISA cap; print both
with ``python -m ovq.runtime.cpu_class --ray-resources``). A run's ``compile.targets`` of a class some other
node advertises are measured on that node (ovq.benchmarking.targets.measure_target_on_node), not emulated.

Faults: a task whose worker or node dies is retried elsewhere (``max_retries``) from a clean run folder;
user errors never reach Ray as exceptions (they come back as failed results), so they are not retried.
Ctrl-C and SIGTERM cancel what is pending and in flight, then stop the private instance.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ovq.benchmarking.targets import CLASS_RESOURCE_PREFIX, class_resource
from ovq.errors import ConfigError, DependencyError
from ovq.runtime.cpu_class import active_class
from ovq.sweep.executors import OnResult, StopRequest, SweepInterrupted, cancelled, graceful_interrupt
from ovq.sweep.task import RunResult, RunTask, execute_run

NODE_RESOURCE = "ovq_node"
LOOPBACK = "127.0.0.1"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DependencyError(
            "--executor ray needs Ray, which is not installed",
            hint="pip install 'ovq[ray]' (or use --executor local)",
        ) from None
    return ray


def start_local_ray(num_cpus: int | None = None) -> Any:
    """A private single-node Ray instance on the loopback address: no dashboard, no usage stats."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # for Ray's first import, if still to come
    ray = import_ray()
    with services_in_their_own_process_group(ray), services_on_loopback(ray):
        ray.init(
            address="local",
            num_cpus=num_cpus,
            resources={NODE_RESOURCE: 1, class_resource(active_class().name): 1},
            include_dashboard=False,
            _node_ip_address=LOOPBACK,
            log_to_driver=False,
        )
    return ray


@contextlib.contextmanager
def services_on_loopback(ray: Any) -> Iterator[None]:
    """While a local instance starts: its services listen on 127.0.0.1 even if Ray was imported earlier.

    Ray reads `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER` once, at import (`ray._private.ray_constants`); when Ray
    was imported before it was set (by user code, or by `ovq sweep` itself), the services bound every
    interface and the runtime-env agent the host's address (measured with `ss -ltnp`). The setting is put
    in place for the start and restored; a driver joining a real cluster (`--ray-address`) keeps Ray's own.
    """
    constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is None or not getattr(constants, "ENABLE_RAY_CLUSTER", False):
        yield
        return
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = True


@contextlib.contextmanager
def services_in_their_own_process_group(ray: Any) -> Iterator[None]:
    """While a local instance starts: each Ray service (GCS, raylet, ...) leads a process group of its own.

    A terminal's Ctrl-C, `kill -- -PGID` and most CI timeouts signal the driver's whole process group, and
    Ray starts its services in it. Ray blocks SIGINT in them, but not SIGTERM: a SIGTERM to the group took
    the GCS and raylet down under the driver, whose Ray crash handler then aborted it with a stack dump and
    no sweep report (and with ovq's handler, it waited 60 s for the GCS instead). In groups of their own
    only the driver hears the signal; it cancels the tasks and stops the services with ray.shutdown().
    They stay in the driver's session, and die with it if it is killed outright (Ray's kernel fate
    sharing, PR_SET_PDEATHSIG), which is why this is done only where Ray has it (Linux): elsewhere Ray's
    reaper cleans up by process group. Ray's workers already lead groups of their own.

    Done by wrapping the Popen that Ray's process launcher calls (`ray._private.services.ConsolePopen`);
    on a Ray without it the services start as Ray starts them.
    """
    private: Any = getattr(ray, "_private", None)
    services: Any = getattr(private, "services", None)
    popen = getattr(services, "ConsolePopen", None)
    fate_sharing = getattr(getattr(private, "utils", None), "detect_fate_sharing_support", None)
    if popen is None or not sys.platform.startswith("linux") or fate_sharing is None or not fate_sharing():
        yield
        return

    def own_group(*args: Any, **kwargs: Any) -> Any:
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0
        else:  # pragma: no cover - Python 3.10
            launcher_preexec = kwargs.get("preexec_fn")

            def preexec() -> None:
                os.setpgid(0, 0)
                if launcher_preexec is not None:
                    launcher_preexec()

            kwargs["preexec_fn"] = preexec
        return popen(*args, **kwargs)

    services.ConsolePopen = own_group
    try:
        yield
    finally:
        services.ConsolePopen = popen


class RayExecutor:
    """Runs tasks as Ray tasks. address: None starts a local instance; "auto" or HOST:PORT joins a cluster."""

    name = "ray"

    def __init__(self, address: str | None = None, *, max_retries: int = 3) -> None:
        self.address = address
        self.max_retries = max_retries
        self.lost_nodes: list[str] = []
        self.nodes: list[dict[str, Any]] = []

    def describe(self) -> dict[str, object]:
        return {
            "executor": self.name,
            "ray_address": self.address or "local",
            "nodes": self.nodes,
            "lost_nodes": self.lost_nodes,
            "max_retries": self.max_retries,
        }

    def run(self, tasks: Sequence[RunTask], on_result: OnResult) -> list[RunResult]:
        ray = import_ray()
        owned = not ray.is_initialized()
        if owned:
            if self.address is None:
                start_local_ray()
            else:
                ray.init(address=self.address, log_to_driver=False)
        # After ray.init: its SIGTERM handler (a stack dump and abort) gives way to ours until Ray is stopped.
        with graceful_interrupt() as stop:
            try:
                return self._run(ray, tasks, on_result, stop)
            finally:
                if owned:
                    ray.shutdown()

    def _run(self, ray: Any, tasks: Sequence[RunTask], on_result: OnResult, stop: StopRequest) -> list[RunResult]:
        alive_before = self._check_nodes(ray)
        remote = ray.remote(execute_run)
        pending: dict[Any, RunTask] = {}
        for task in tasks:
            share = 1.0 if task.whole_node else 1.0 / task.tasks_per_node
            options = {
                "num_cpus": 0,
                "resources": {NODE_RESOURCE: share},
                "max_retries": self.max_retries,
                "retry_exceptions": False,
                "name": f"ovq-run-{task.run_id}",
            }
            pending[remote.options(**options).remote(task)] = task
        finished: dict[str, RunResult] = {}
        try:
            self._collect(ray, pending, finished, on_result, stop)
        except KeyboardInterrupt:
            stop.request(signal.SIGINT)  # Ctrl-C twice: stop waiting at once
        finally:
            alive_after = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
            self.lost_nodes = sorted(alive_before - alive_after)
        if stop.requested:
            # The runs elsewhere are other processes: cancelling them cannot hurt this one's report.
            for ref in pending:
                ray.cancel(ref, force=True)
            reason = "cancelled: the sweep was interrupted"
            results = [finished.get(t.run_id) or cancelled(t, reason, stop.exit_code) for t in tasks]
            raise SweepInterrupted(results, stop.signum or signal.SIGINT)
        return [finished[task.run_id] for task in tasks]

    def _collect(
        self,
        ray: Any,
        pending: dict[Any, RunTask],
        finished: dict[str, RunResult],
        on_result: OnResult,
        stop: StopRequest,
    ) -> None:
        while pending and not stop.requested:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    # Retries spent: the run's worker or node kept dying (or Ray itself failed).
                    result = RunResult(
                        run_id=task.run_id,
                        status="lost",
                        exit_code=3,
                        error={
                            "stage": None,
                            "type": type(exc).__name__,
                            "message": f"lost after {self.max_retries + 1} attempts: {str(exc).splitlines()[0]}",
                            "hint": "a node or worker died each time; check the nodes' memory and logs",
                        },
                    )
                finished[task.run_id] = result
                on_result(result)

    def _check_nodes(self, ray: Any) -> set[str]:
        nodes = [node for node in ray.nodes() if node["Alive"]]
        self.nodes = [
            {
                "node_id": node["NodeID"],
                "address": node["NodeManagerAddress"],
                "cpus": node["Resources"].get("CPU"),
                NODE_RESOURCE: node["Resources"].get(NODE_RESOURCE, 0),
                # What the node advertises (ovq_class_X): a run's targets of that class are measured there.
                "cpu_class": next(
                    (
                        key.removeprefix(CLASS_RESOURCE_PREFIX)
                        for key in node["Resources"]
                        if key.startswith(CLASS_RESOURCE_PREFIX)
                    ),
                    None,
                ),
            }
            for node in nodes
        ]
        if not any(node["Resources"].get(NODE_RESOURCE, 0) >= 1 for node in nodes):
            raise ConfigError(
                f"no node of the Ray cluster at {self.address or 'local'} offers the {NODE_RESOURCE!r} resource",
                hint=f"start every node with ray start ... --resources='{{\"{NODE_RESOURCE}\": 1}}'"
                " (see docs/how-to/sweeps.md)",
            )
        return {node["NodeID"] for node in nodes}
