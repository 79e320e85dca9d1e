"""Measure variants as a lower CPU class would run them: a worker process with the ISA capped.

A cap (``ONEDNN_MAX_CPU_ISA`` + ``OV_CPU_MAX_ISA``) is read once, when the plugin first looks at the CPU, so it
needs a process of its own. The worker proves the cap held before it reports a number: the plugin's default
precision and capabilities must be the class's, and no kernel any variant executed may need more than the
class runs (``ovq.runtime.cpu_class.kernels_above``); otherwise the target is "not emulable here".

What emulation does not change: this host's cores, caches and frequency. A capped run ranks variants the way
that class does (its kernels, its INT8 arithmetic, its default precision); it does not promise that box's FPS.

Example::

    job = TargetJob(target="avx2", variants=[TargetVariant("fp32", "m.xml", options, profiling_options)], ...)
    result = measure_target(job, workdir)      # TargetMeasurement(status="measured", outputs=..., benchmarks=...)
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ovq.runtime.cpu_class import NATIVE, active_class, cap_environment, cpu_class, is_emulable

TargetStatus = Literal["measured", "not_measurable_here", "not_emulable_here"]

#: What a capped measurement can and cannot say, in one line (the report prints it beside every target).
EMULATION_NOTE = (
    "emulated by capping the ISA on this host: it ranks variants as that class runs them (its kernels, its INT8"
    " arithmetic, its default precision), not that machine's absolute FPS (this host's cores, caches, frequency)"
)


@dataclass(frozen=True)
class TargetVariant:
    """One model to measure: its IR and compile_model's keyword arguments (ovq.runtime.compile.compile_model).

    profile_options: the same with per-layer counters on (the pipeline's own profiling compile), for the proof.
    """

    name: str
    model_path: str
    compile_options: dict[str, Any]
    profile_options: dict[str, Any]


@dataclass(frozen=True)
class TargetJob:
    """What a worker measures for one target class."""

    target: str
    variants: list[TargetVariant]
    evaluate: bool = True
    repeats: int = 3
    duration_s: float | None = None
    iterations: int | None = None
    warmup_iterations: int = 0
    timeout_s: float = 1800.0


@dataclass
class TargetMeasurement:
    """A target's result: measured (outputs per variant, benchmark blocks), or why it was not."""

    target: str
    status: TargetStatus
    reason: str | None = None
    default_precision: str | None = None
    kernels: dict[str, list[str]] = field(default_factory=dict)
    inference_precision: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    benchmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The Ray node (``{"node_id", "address"}``) that measured it, when a cluster node of that class did.
    node: dict[str, str] | None = None


#: A Ray node of CPU class X offers one unit of ``ovq_class_X`` (``python -m ovq.runtime.cpu_class --ray-resources``).
CLASS_RESOURCE_PREFIX = "ovq_class_"


def class_resource(name: str) -> str:
    """The Ray resource a node of class ``name`` advertises."""
    return CLASS_RESOURCE_PREFIX + cpu_class(name).name


def node_of_class(name: str) -> dict[str, Any] | None:
    """Another live node of this process's Ray cluster that advertises class ``name`` (None outside Ray).

    Measured beats emulated: such a node runs that class's kernels on that class's cores and caches.
    """
    ray = sys.modules.get("ray")  # never imported here just to ask: without Ray there is no cluster
    if ray is None or not ray.is_initialized():
        return None
    here = ray.get_runtime_context().get_node_id()
    resource = class_resource(name)
    for node in ray.nodes():
        if node["Alive"] and node["NodeID"] != here and node["Resources"].get(resource, 0) >= 1:
            return dict(node)
    return None


def measure_target_on_node(
    job: TargetJob, *, eval_inputs: list[Any] | None = None, bench_inputs: list[Any] | None = None
) -> TargetMeasurement:
    """Run ``job`` on a Ray node of its class: the IR files travel with the task (no shared disk needed).

    The task asks for that node's one ``ovq_class_X`` unit only, not its whole ``ovq_node`` slot: a sweep
    run holding the slot while it waits for this measurement would otherwise deadlock with a run on the other
    node waiting for it. Within the task the variants are still measured back to back (paired repeats).
    """
    import ray

    files = {v.name: (Path(v.model_path).read_bytes(), Path(v.model_path).with_suffix(".bin").read_bytes())
             for v in job.variants}  # fmt: skip
    remote = ray.remote(_measure_shipped).options(
        num_cpus=0, resources={class_resource(job.target): 1}, max_retries=1, name=f"ovq-target-{job.target}"
    )
    return TargetMeasurement(**ray.get(remote.remote(asdict(job), files, eval_inputs, bench_inputs)))


def _measure_shipped(
    raw: dict[str, Any],
    files: dict[str, tuple[bytes, bytes]],
    eval_inputs: list[Any] | None,
    bench_inputs: list[Any] | None,
) -> dict[str, Any]:
    """On the class's node: write the IRs into a scratch folder, measure as measure_target does, say where."""
    import tempfile

    import ray

    with tempfile.TemporaryDirectory(prefix=f"ovq-target-{raw['target']}-") as scratch:
        variants: list[TargetVariant] = []
        for variant in raw["variants"]:
            xml, weights = files[variant["name"]]
            folder = Path(scratch) / f"v{len(variants)}"
            folder.mkdir()
            (folder / "model.xml").write_bytes(xml)
            (folder / "model.bin").write_bytes(weights)
            variants.append(TargetVariant(**{**variant, "model_path": str(folder / "model.xml")}))
        job = TargetJob(**{**raw, "variants": variants})
        result = measure_target(job, Path(scratch) / "work", eval_inputs=eval_inputs, bench_inputs=bench_inputs)
    context = ray.get_runtime_context()
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    address = next((n["NodeManagerAddress"] for n in nodes if n["NodeID"] == context.get_node_id()), "?")
    result.node = {"node_id": context.get_node_id(), "address": address}
    return asdict(result)


def measure_target(
    job: TargetJob, workdir: Path, *, eval_inputs: list[Any] | None = None, bench_inputs: list[Any] | None = None
) -> TargetMeasurement:
    """Run ``job`` in a worker capped to its class (or say why that cannot be done on this host).

    ``job.target`` "native" runs the same worker with this process's environment (this machine as it is,
    uncapped unless this process is), so a capped class can be compared with the host process for process,
    e.g. in alternating rounds (tests/perf/targets.py).
    """
    native = job.target == NATIVE
    # A process already capped (an emulated lower machine, e.g. the suite's capped reruns) is that machine: a
    # class above its cap is not measurable here, and "native" keeps the cap.
    host = active_class()
    target = host if native else cpu_class(job.target)
    if target.rank > host.rank or not is_emulable(target, host):
        above = target.rank > host.rank
        reason = (
            f"{target.name} is above this host ({host.name}): it can only be measured on such a machine"
            if above
            else f"this host ({host.name}) lacks an instruction {target.name} has (avx_vnni)"
        )
        return TargetMeasurement(job.target, "not_measurable_here", reason=reason)
    workdir.mkdir(parents=True, exist_ok=True)
    job_path = workdir / "job.pkl"
    result_path = workdir / "result.pkl"
    with open(job_path, "wb") as handle:
        pickle.dump({"job": asdict(job), "eval_inputs": eval_inputs, "bench_inputs": bench_inputs}, handle)
    environment = dict(os.environ) if native else {**os.environ, **cap_environment(target)}
    completed = subprocess.run(
        [sys.executable, "-m", "ovq.benchmarking.targets", str(job_path), str(result_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=job.timeout_s,
        check=False,
    )
    if completed.returncode != 0 or not result_path.is_file():
        from ovq.errors import StageError

        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise StageError(
            f"the worker measuring target {target.name} failed (exit {completed.returncode}): {' | '.join(tail)}"
        )
    with open(result_path, "rb") as handle:
        # Plain data across the process boundary: the worker runs this module as __main__.
        return TargetMeasurement(**pickle.load(handle))


def benchmark_on_targets(
    model_path: str | Path,
    targets: Sequence[str],
    compile_options: dict[str, Any],
    *,
    duration_s: float | None = None,
    iterations: int | None = None,
    repeats: int = 3,
) -> list[dict[str, Any]]:
    """One model benchmarked as each CPU class in ``targets`` runs it ("native" is left out: the caller's own run).

    ``compile_options``: compile_model's keyword arguments. Each entry says the class, its status and, when
    measured, throughput, median latency, the inference precision and run-to-run spread; otherwise why not.
    """
    import tempfile

    entries: list[dict[str, Any]] = []
    profiling = {**compile_options, "extra": {**(compile_options.get("extra") or {}), "PERF_COUNT": True}}
    for name in dict.fromkeys(targets):
        if name == NATIVE:
            continue
        target = cpu_class(name)
        job = TargetJob(
            target=target.name,
            variants=[TargetVariant("model", str(model_path), compile_options, profiling)],
            evaluate=False,
            repeats=repeats,
            duration_s=duration_s if duration_s or iterations else 3.0,
            iterations=iterations,
        )
        with tempfile.TemporaryDirectory(prefix=f"ovq-target-{target.name}-") as scratch:
            measured = measure_target(job, Path(scratch))
        entry: dict[str, Any] = {"target": target.name, "cpu_class": target.describe(), "status": measured.status}
        if measured.status != "measured":
            entries.append(entry | {"reason": measured.reason})
            continue
        bench = measured.benchmarks["model"]
        entries.append(
            entry
            | {
                "how": EMULATION_NOTE,
                "throughput_fps": bench.get("throughput_fps"),
                "latency_median_ms": (bench.get("latency_ms") or {}).get("median"),
                "spread": bench.get("spread"),
                "noisy": bool(bench.get("noisy")),
                "inference_precision": measured.inference_precision.get("model"),
                "kernels": measured.kernels.get("model", []),
            }
        )
    return entries


def _run_worker(job: TargetJob, eval_inputs: list[Any] | None, bench_inputs: list[Any] | None) -> TargetMeasurement:
    """Inside the capped process: prove the cap, then evaluate and benchmark every variant."""
    from ovq.benchmarking.engine import benchmark_interleaved
    from ovq.runtime.compile import compile_model
    from ovq.runtime.cpu_class import kernels_above, prove_cap
    from ovq.runtime.infer import infer_all

    native = job.target == NATIVE
    target = active_class() if native else cpu_class(job.target)
    problem = None if native else prove_cap(target)
    if problem is not None:
        return TargetMeasurement(job.target, "not_emulable_here", reason=f"the ISA cap did not hold: {problem}")
    result = TargetMeasurement(job.target, "measured", default_precision=target.default_precision)
    compiled = {}
    for variant in job.variants:
        above: list[str] = []
        if not native:  # uncapped, any kernel the host has is this machine's own: nothing to prove
            profiled = compile_model(variant.model_path, **variant.profile_options)
            result.kernels[variant.name] = _executed_kernels(profiled.compiled, eval_inputs or bench_inputs)
            above = kernels_above(target, result.kernels[variant.name])
        if above:
            return TargetMeasurement(
                job.target,
                "not_emulable_here",
                reason=f"{variant.name} ran kernels above {target.name} under the cap: {', '.join(above)}",
            )
        built = compile_model(variant.model_path, **variant.compile_options)
        compiled[variant.name] = built
        result.inference_precision[variant.name] = built.inference_precision
        if job.evaluate and eval_inputs is not None:
            outputs = infer_all(built.compiled, eval_inputs, first_output_only=True)
            result.outputs[variant.name] = [first for first, *_ in outputs]
    timed = benchmark_interleaved(
        {name: c.compiled for name, c in compiled.items()},
        {name: bench_inputs for name in compiled} if bench_inputs is not None else None,
        repeats=job.repeats,
        duration_s=job.duration_s,
        iterations=job.iterations,
        warmup_iterations=job.warmup_iterations,
        compile_ms={name: c.compile_ms for name, c in compiled.items()},
    )
    result.benchmarks = {name: bench.to_dict() for name, bench in timed.items()}
    return result


def _executed_kernels(compiled: Any, inputs: list[Any] | None) -> list[str]:
    from ovq.benchmarking.inputs import prepare_inputs

    request = compiled.create_infer_request()
    feed = inputs[0] if inputs else prepare_inputs(compiled, None)[0]
    request.infer(feed)
    return sorted({info.exec_type for info in request.profiling_info})


def main(argv: list[str]) -> int:
    job_path, result_path = Path(argv[0]), Path(argv[1])
    with open(job_path, "rb") as handle:
        payload = pickle.load(handle)
    raw = payload["job"]
    job = TargetJob(**{**raw, "variants": [TargetVariant(**v) for v in raw["variants"]]})
    result = _run_worker(job, payload["eval_inputs"], payload["bench_inputs"])
    staged = result_path.with_suffix(".tmp")
    with open(staged, "wb") as handle:
        pickle.dump(asdict(result), handle)
    os.replace(staged, result_path)
    print(json.dumps({"target": result.target, "status": result.status}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
