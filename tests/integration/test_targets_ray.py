"""compile.targets on a Ray cluster: a target goes to a node that advertises its class (measured beats emulated).

The cluster is simulated on this machine, every node on 127.0.0.1: the head advertises no class, a second
node is capped to AVX2 (its raylet, and so its workers, run with the ISA cap) and advertises ``ovq_class_avx2``.
A class above this host advertised by a third node gets no number from it: the node measures what it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ovq[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

from ovq.benchmarking.targets import class_resource  # noqa: E402
from ovq.pipeline.runner import run_pipeline  # noqa: E402
from ovq.runtime.cpu_class import CLASSES, cap_environment, cpu_class, host_class, kernels_above  # noqa: E402
from ovq.sweep.ray_executor import NODE_RESOURCE  # noqa: E402
from tests.integration.test_targets import by_target, write_pipeline  # noqa: E402

pytestmark = pytest.mark.slow

AVX2 = cpu_class("avx2")
ABOVE = next((c for c in CLASSES if c.rank > host_class().rank and c.name != "avx2_vnni"), None)


def test_a_target_is_measured_on_the_node_of_its_class(tmp_path: Path) -> None:
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(
        initialize_head=True, head_node_args={**node, "resources": {NODE_RESOURCE: 1}, "include_dashboard": False}
    )
    try:
        capped = cluster.add_node(
            **node, resources={NODE_RESOURCE: 1, class_resource(AVX2.name): 1}, env_vars=cap_environment(AVX2)
        )
        claimed = (
            cluster.add_node(**node, resources={NODE_RESOURCE: 1, class_resource(ABOVE.name): 1}) if ABOVE else None
        )
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        targets = ["native", AVX2.name, *([ABOVE.name] if ABOVE else [])]
        report = run_pipeline(write_pipeline(tmp_path, targets), output_dir=tmp_path / "run", cache=False)
    finally:
        ray.shutdown()
        cluster.shutdown()
    entries = by_target(report)
    avx2 = entries[AVX2.name]
    assert avx2["status"] == "measured", avx2
    assert avx2["node"]["node_id"] == capped.node_id and "Ray node 127.0.0.1" in avx2["how"]
    # The capped node ran AVX2's kernels only, at AVX2's default precision: its cap held for its workers.
    assert all(kernels_above(AVX2, kernels) == [] for kernels in avx2["kernels"].values())
    assert {v["inference_precision"] for v in avx2["variants"].values()} == {"f32"}
    assert avx2["deliverable"] is not None
    if ABOVE is not None and claimed is not None:
        above = entries[ABOVE.name]
        # The node claims a class this machine lacks: it measured nothing rather than a wrong number.
        assert above["node"]["node_id"] == claimed.node_id
        assert above["status"] == "not_measurable_here" and above["variants"] == {}
