"""The Ray executor (optional extra `ovq[ray]`): the same tasks as the local executor, placed on a cluster.

Placement keeps measurements honest. Every node offers one unit of the custom resource ``ovq_node``
(ovq starts its local instance that way; cluster nodes are started with
``ray start ... --resources='{"ovq_node": 1}'``). A run with a benchmark stage asks for the whole unit, so
nothing else runs on its node while it measures; a run without one asks for ``1/tasks_per_node`` and may
share. Both ask for no Ray CPUs: OpenVINO uses every core of the node it runs on.

Faults: a task whose worker or node dies is retried elsewhere (``max_retries``) from a clean run folder;
user errors never reach Ray as exceptions (they come back as failed results), so they are not retried.
Ctrl-C cancels what is pending and in flight.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ovq.errors import ConfigError, DependencyError
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
    # Read by Ray at import time: keep every address on loopback and send no usage statistics.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = import_ray()
    ray.init(
        address="local",
        num_cpus=num_cpus,
        resources={NODE_RESOURCE: 1},
        include_dashboard=False,
        _node_ip_address=LOOPBACK,
        log_to_driver=False,
    )
    return ray


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
        try:
            return self._run(ray, tasks, on_result)
        finally:
            if owned:
                ray.shutdown()

    def _run(self, ray: Any, tasks: Sequence[RunTask], on_result: OnResult) -> list[RunResult]:
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
        with graceful_interrupt() as stop:
            try:
                self._collect(ray, pending, finished, on_result, stop)
            except KeyboardInterrupt:
                stop.requested = True
            finally:
                alive_after = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
                self.lost_nodes = sorted(alive_before - alive_after)
        if stop.requested:
            # The runs elsewhere are other processes: cancelling them cannot hurt this one's report.
            for ref in pending:
                ray.cancel(ref, force=True)
            results = [finished.get(t.run_id) or cancelled(t, "cancelled: the sweep was interrupted") for t in tasks]
            raise SweepInterrupted(results)
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
