"""The sweep report document (sweep.json): every run, every variant, the Pareto front, the best per model.

Throughput is only comparable on one kind of machine. Each run records the node it was measured on; runs
are grouped by machine (CPU model, cores, the flags that pick OpenVINO's kernels) and the Pareto front is
drawn per machine and metric. When throughputs come from more than one kind of machine, the report says so.

A cache hit is not a measurement: a run whose benchmark stage was replayed from the stage cache shows
throughputs measured at another time, under another load. Each run says so (`benchmark_cached`), and the
report notes how many runs replayed them (`ovq sweep --remeasure` measures them again).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from typing import Any

from ovq.report.rows import benchmark_cached as report_benchmark_cached
from ovq.report.rows import fmt_speedup, reference_variant, variant_rows
from ovq.report.schema import parse_report
from ovq.sweep.executors import signal_exit_code
from ovq.sweep.task import RunResult, RunTask

SWEEP_SCHEMA_VERSION = 1


def machine_key(node: Mapping[str, Any]) -> str:
    """Two nodes with the same key give comparable throughputs (hostnames do not matter, hardware does)."""
    flags = ",".join(node.get("cpu_flags") or []) or "no AVX2+ flags"
    return f"{node.get('cpu') or 'unknown CPU'} | {node.get('cpu_count') or '?'} cores | {flags}"


def benchmark_cached(report: Mapping[str, Any] | None) -> bool | None:
    """Whether a run's throughputs were replayed from the stage cache; None when no benchmark stage ran.

    The same reading of the report's stages as the run's own report.md/html (`ovq.report.rows.benchmark_cached`).
    """
    return report_benchmark_cached(report) if report else None


def variant_points(task: RunTask, result: RunResult) -> list[dict[str, Any]]:
    """One entry per variant of a run's report, with what the sweep compares."""
    report = result.report
    if not report:
        return []
    budget = report.get("budget") if isinstance(report.get("budget"), Mapping) else None
    verdicts = budget.get("variants", {}) if budget else {}
    variants = parse_report(report).variants
    reference = reference_variant(variants)
    repeats = {v.name: list(v.benchmark.throughput_fps_runs) if v.benchmark else [] for v in variants}
    points = []
    for row in variant_rows(report):
        is_reference = reference is not None and row.name == reference.name and not row.baseline
        if budget is None:
            met: bool | None = None
        elif is_reference:
            met = True  # the reference is what the budget is measured against
        else:
            met = bool((verdicts.get(row.name) or {}).get("met"))
        points.append(
            {
                "run_id": task.run_id,
                "variant": row.label,
                "precision": row.precision,
                "baseline": row.baseline,
                "metric": row.accuracy_metric,
                "higher_is_better": row.higher_is_better,
                "accuracy": row.accuracy_value,
                "accuracy_drop": row.accuracy_drop,
                "throughput_fps": row.throughput_fps,
                "throughput_fps_runs": repeats.get(row.name, []),
                # Paired with FP32 inside its run (ovq.benchmarking.protocol): the one ratio a sweep can pair.
                "vs_reference": fmt_speedup(row) if row.comparisons.get("reference") else None,
                "latency_median_ms": row.latency_median_ms,
                "size_bytes": row.size_bytes,
                "noisy": row.noisy,
                "budget_met": met,
                "deliverable": row.deliverable,
                "pareto": False,
            }
        )
    return points


def pareto_front(points: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of the points no other point beats on both accuracy and throughput (same metric direction)."""
    front = []
    for i, p in enumerate(points):
        sign = 1.0 if p["higher_is_better"] else -1.0
        dominated = any(
            sign * q["accuracy"] >= sign * p["accuracy"]
            and q["throughput_fps"] >= p["throughput_fps"]
            and (sign * q["accuracy"] > sign * p["accuracy"] or q["throughput_fps"] > p["throughput_fps"])
            for j, q in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def build_sweep_report(
    *,
    name: str,
    description: str | None,
    sweep_file: str,
    tasks: Sequence[RunTask],
    results: Sequence[RunResult],
    executor: Mapping[str, Any],
    started_at: str,
    finished_at: str,
    duration_s: float,
    stopped_by: int | None = None,
) -> dict[str, Any]:
    """The whole sweep as one JSON document; Markdown and HTML are rendered from it alone.

    stopped_by: the signal that interrupted the sweep (SIGINT: Ctrl-C, SIGTERM), None when it ran to the end.
    An interrupted sweep has status "interrupted" and exit code 128 + signal (130, 143).
    """
    from ovq.nightly.runner import most_relevant_exit_code

    by_id = {result.run_id: result for result in results}
    runs: list[dict[str, Any]] = []
    machines: dict[str, dict[str, Any]] = {}
    for task in tasks:
        result = by_id.get(task.run_id)
        node = dict(result.node) if result and result.node else {}
        if not node and result and result.report:
            node = dict(result.report.get("environment") or {})
        machine = machine_key(node) if node else None
        if machine is not None:
            entry = machines.setdefault(
                machine,
                {
                    "cpu": node.get("cpu"),
                    "cpu_count": node.get("cpu_count"),
                    "cpu_flags": node.get("cpu_flags"),
                    "nodes": [],
                },
            )
            where = node.get("ray_node_id") or node.get("hostname")
            if where and where not in entry["nodes"]:
                entry["nodes"].append(where)
        report = result.report if result else None
        runs.append(
            {
                "run_id": task.run_id,
                "label": task.label,
                "pipeline": task.pipeline,
                "pipeline_file": task.pipeline_file,
                "model": task.model,
                "overrides": task.overrides,
                "status": result.status if result else "cancelled",
                "exit_code": result.exit_code if result else 130,
                "error": result.error if result else None,
                "run_dir": task.run_dir,
                "duration_s": round(result.duration_s, 3) if result else None,
                "node": node or None,
                "machine": machine,
                "deliverable": (report or {}).get("deliverable"),
                "has_budget": bool((report or {}).get("budget")),
                "benchmark_cached": benchmark_cached(report),
                "variants": variant_points(task, result) if result else [],
            }
        )
    _mark_pareto(runs)
    measured_machines = {run["machine"] for run in runs if any(p["throughput_fps"] for p in run["variants"])}
    notes = []
    if len(measured_machines) > 1:
        notes.append(
            f"throughputs come from {len(measured_machines)} different kinds of machine; compare them only within"
            " one machine (the Pareto front is drawn per machine)"
        )
    benchmarked = [run for run in runs if run["benchmark_cached"] is not None]
    replayed = sum(bool(run["benchmark_cached"]) for run in benchmarked)
    if replayed:
        notes.append(replayed_note(replayed, len(benchmarked)))
    lost = list(executor.get("lost_nodes") or [])
    if lost:
        notes.append(f"{len(lost)} node(s) were lost during the sweep; their runs were retried on other nodes")
    finished = [run["run_id"] for run in runs if run["status"] in ("succeeded", "failed")]
    if stopped_by is not None:
        how = "interrupted (Ctrl-C)" if stopped_by == signal.SIGINT else "terminated (SIGTERM)"
        notes.append(f"{how}: {len(finished)} of {len(runs)} runs finished; the rest were cancelled")
    codes = [run["exit_code"] for run in runs if run["status"] != "cancelled"]
    if stopped_by is not None:
        status, exit_code = "interrupted", signal_exit_code(stopped_by)
    else:
        status, exit_code = ("succeeded" if all(c == 0 for c in codes) else "failed"), most_relevant_exit_code(codes)
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "kind": "ovq-sweep",
        "name": name,
        "description": description,
        "sweep_file": sweep_file,
        "status": status,
        "exit_code": exit_code,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_s": round(duration_s, 3),
        "placement": dict(executor),
        "finished_runs": finished,
        "machines": machines,
        "mixed_machines": len(measured_machines) > 1,
        "notes": notes,
        "best": best_per_model(runs),
        "runs": runs,
    }


def replayed_note(replayed: int, benchmarked: int) -> str:
    """The one line every rendering shows when throughputs were replayed from the stage cache."""
    return (
        f"{replayed} of {benchmarked} benchmarked runs replayed their benchmark numbers from the stage cache"
        ' (measured earlier, under another load; marked "cached"); `ovq sweep --remeasure` measures them again'
    )


def _mark_pareto(runs: list[dict[str, Any]]) -> None:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for run in runs:
        for point in run["variants"]:
            if point["baseline"] or point["accuracy"] is None or not point["throughput_fps"]:
                continue
            groups.setdefault((run["machine"], point["metric"], point["higher_is_better"]), []).append(point)
    for points in groups.values():
        for index in pareto_front(points):
            points[index]["pareto"] = True


def best_per_model(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model, the fastest variant that holds its budget (any variant when the pipeline has no budget)."""
    best: dict[str, dict[str, Any]] = {}
    for model in dict.fromkeys(run["model"] for run in runs):
        candidates = [
            (run, point)
            for run in runs
            if run["model"] == model and run["status"] == "succeeded"
            for point in run["variants"]
            if not point["baseline"] and point["budget_met"] is not False
        ]
        if not candidates:
            best[model] = {"run_id": None, "variant": None, "reason": "no finished run has a variant within its budget"}
            continue
        measured = [c for c in candidates if c[1]["throughput_fps"]]
        machines = {run["machine"] for run, _ in measured}
        tie: dict[str, Any] = {}
        if measured:
            run, point, rule, tie = _fastest_or_tied(measured)
        else:
            sign = 1.0 if candidates[0][1]["higher_is_better"] else -1.0
            run, point = max(candidates, key=lambda c: sign * (c[1]["accuracy"] or float("-inf")))
            rule = "most accurate (no run was benchmarked)"
        best[model] = {
            "run_id": run["run_id"],
            "label": run["label"],
            "variant": point["variant"],
            "accuracy": point["accuracy"],
            "metric": point["metric"],
            "throughput_fps": point["throughput_fps"],
            "budget": "met" if point["budget_met"] else "no budget",
            "rule": rule,
            "machines_compared": len(machines),
            "benchmark_cached": run.get("benchmark_cached"),
            **tie,
        }
    return best


def _fastest_or_tied(
    measured: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> tuple[Mapping[str, Any], Mapping[str, Any], str, dict[str, Any]]:
    """The fastest (run, point), unless points it is not proven faster than are smaller: the tie rule decides.

    Runs of a sweep are measured one after another, so two of them compare *unpaired*
    (protocol.compare_unpaired, on each point's repeats): a point on the same machine whose interval does not
    lie below the fastest's is tied with it, and the smallest of the tied wins, then an uncompressed one.
    """
    from ovq.benchmarking.protocol import against_fastest, compare_unpaired

    fastest = max(measured, key=lambda c: c[1]["throughput_fps"])
    compared = against_fastest(
        [c for c in measured if c[0]["machine"] == fastest[0]["machine"]],
        speed=lambda c: c[1]["throughput_fps"],
        compare=lambda c, top: compare_unpaired(
            c[1].get("throughput_fps_runs") or [], top[1].get("throughput_fps_runs") or []
        ),
    )
    tied = [
        c
        for c, comparison in compared
        if comparison is None or (comparison.verdict != "slower" and comparison.repeats > 0)
    ]
    comparisons = {id(c): comparison.describe() for c, comparison in compared if comparison is not None}

    def size(candidate: tuple[Mapping[str, Any], Mapping[str, Any]]) -> tuple[float, bool, bool]:
        point = candidate[1]
        # Smaller, then uncompressed, then the fastest itself among equals.
        return (
            point.get("size_bytes") or float("inf"),
            point.get("precision") not in ("fp32", None),
            candidate is not fastest,
        )

    chosen = min(tied, key=size)
    if chosen is fastest:
        return fastest[0], fastest[1], "fastest", {}
    label = f"{fastest[1]['variant']} of run {fastest[0]['run_id']}"
    return (
        chosen[0],
        chosen[1],
        "tied with the fastest; smaller",
        {
            "tied_with": label,
            "tie": f"{comparisons[id(chosen)]} against {label} (unpaired: measured in different runs)",
        },
    )
