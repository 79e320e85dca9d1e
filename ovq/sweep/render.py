"""The sweep report for humans: sweep.md and sweep.html, rendered from sweep.json alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ovq.report.html import esc, html_table, page
from ovq.report.plots import PALETTE, figure_to_svg
from ovq.report.rows import fmt_cached

Sweep = Mapping[str, Any]


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value:.{digits}g}"


def _budget(point: Mapping[str, Any]) -> str:
    return {True: "met", False: "missed", None: "–"}[point.get("budget_met")]


def _throughput(fps: Any, *, noisy: bool, cached: bool) -> str:
    """A throughput cell: the number, " noisy" when it varied too much, " cached" when replayed from the cache."""
    return fmt_cached(_fmt(fps) + (" noisy" if noisy else ""), cached)


def variant_table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """The table every rendering shares: one row per variant of every run (plain text cells).

    A throughput replayed from the stage cache (the run's `benchmark_cached`; absent in sweep.json files
    written before it existed) is marked "cached": it was not measured by this sweep.
    """
    headers = [
        "run", "model", "overrides", "status", "variant", "accuracy", "throughput fps", "vs fp32 (paired, same run)",
        "budget", "Pareto",
    ]  # fmt: skip
    rows: list[list[str]] = []
    for run in sweep.get("runs", []):
        plain = run["exit_code"] in (0, 130) or run["status"] == "cancelled"
        status = run["status"] if plain else f"{run['status']} (exit {run['exit_code']})"
        if not run["variants"]:
            message = (run.get("error") or {}).get("message", "")
            rows.append([run["run_id"], run["model"], run["label"], status, "–", "–", "–", "–", "–", message[:80]])
            continue
        for point in run["variants"]:
            rows.append(
                [
                    run["run_id"],
                    run["model"],
                    run["label"],
                    status,
                    point["variant"] + (" (deliverable)" if point["deliverable"] else ""),
                    _fmt(point["accuracy"]),
                    _throughput(
                        point["throughput_fps"],
                        noisy=bool(point.get("noisy")),
                        cached=bool(run.get("benchmark_cached")),
                    ),
                    point.get("vs_reference") or "–",
                    _budget(point),
                    "yes" if point["pareto"] else "",
                ]
            )
    return headers, rows


def best_lines(sweep: Sweep) -> list[str]:
    lines = []
    for model, best in (sweep.get("best") or {}).items():
        if not best.get("variant"):
            lines.append(f"{model}: none ({best.get('reason')})")
            continue
        replayed = " (cached)" if best.get("benchmark_cached") and best.get("throughput_fps") else ""
        text = (
            f"{model}: {best['variant']} of run {best['run_id']} ({best['label'] or 'base'}),"
            f" {best['metric'] or 'accuracy'} {_fmt(best['accuracy'])}, {_fmt(best['throughput_fps'])} fps{replayed},"
            f" budget {best['budget']} ({best['rule']})"
        )
        if best.get("tie"):
            text += f"; {best['tie']}"
        if best.get("machines_compared", 0) > 1:
            text += f"; chosen across {best['machines_compared']} kinds of machine"
        lines.append(text)
    return lines


def render_markdown(sweep: Sweep) -> str:
    headers, rows = variant_table(sweep)
    out = [f"# Sweep {sweep['name']} ({sweep['status']})", ""]
    if sweep.get("description"):
        out += [sweep["description"], ""]
    placement = sweep.get("placement") or {}
    runs = sweep.get("runs", [])
    out.append(
        f"{len(sweep.get('finished_runs', []))} of {len(runs)} runs finished in {_fmt(sweep.get('duration_s'), 5)} s,"
        f" executor {placement.get('executor')}"
        + (f" at {placement['ray_address']}" if placement.get("ray_address") else "")
    )
    out.append("")
    for note in sweep.get("notes", []):
        out.append(f"> **Note:** {note}")
    out += ["", "## Best variant per model", ""]
    out += [f"- {line}" for line in best_lines(sweep)] or ["- no run finished"]
    out += ["", "## Runs", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    out += ["", "## Machines", ""]
    for key, machine in (sweep.get("machines") or {}).items():
        out.append(f"- {key}: {len(machine['nodes'])} node(s)")
    out += ["", "The accuracy-vs-throughput plot with the Pareto front is in sweep.html.", ""]
    return "\n".join(out)


def tradeoff_svg(sweep: Sweep) -> str | None:
    """Every benchmarked variant with an accuracy, coloured by model; the Pareto front joined per machine."""
    points = [
        (run, point)
        for run in sweep.get("runs", [])
        for point in run["variants"]
        if not point["baseline"] and point["accuracy"] is not None and point["throughput_fps"]
    ]
    if not points:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.6), dpi=100, layout="constrained")
    ax = figure.subplots()
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    models = list(dict.fromkeys(run["model"] for run, _ in points))
    machines = list(dict.fromkeys(run["machine"] for run, _ in points))
    markers = ["o", "s", "^", "D", "v"]
    for model_index, model in enumerate(models):
        for machine_index, machine in enumerate(machines):
            chosen = [p for run, p in points if run["model"] == model and run["machine"] == machine]
            if not chosen:
                continue
            ax.scatter(
                [p["throughput_fps"] for p in chosen],
                [p["accuracy"] for p in chosen],
                s=[70 if p["pareto"] else 30 for p in chosen],
                color=PALETTE[model_index % len(PALETTE)],
                marker=markers[machine_index % len(markers)],
                edgecolors=["black" if p["pareto"] else "none" for p in chosen],
                label=model if len(machines) == 1 else f"{model} (machine {machine_index + 1})",
                zorder=3,
            )
    for machine in machines:
        front = sorted(
            ((p["throughput_fps"], p["accuracy"]) for run, p in points if run["machine"] == machine and p["pareto"]),
        )
        if len(front) > 1:
            ax.plot([x for x, _ in front], [y for _, y in front], color="black", linewidth=1, linestyle="--", zorder=2)
    metric = next((p["metric"] for _, p in points if p["metric"]), "accuracy")
    better = "higher" if points[0][1]["higher_is_better"] else "lower"
    ax.set_xlabel("throughput (inferences per second) →  faster")
    ax.set_ylabel(f"{metric} ({better} is better)")
    ax.set_title("Accuracy vs throughput across the sweep (outlined: Pareto front)", loc="left", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    return figure_to_svg(figure, "sweep-tradeoff")


def render_html(sweep: Sweep) -> str:
    headers, rows = variant_table(sweep)
    classes = ["deliverable" if "(deliverable)" in row[4] else "" for row in rows]
    sections = [f"<h1>Sweep {esc(sweep['name'])} <small>({esc(sweep['status'])})</small></h1>"]
    if sweep.get("description"):
        sections.append(f"<p>{esc(sweep['description'])}</p>")
    if sweep.get("notes"):
        sections.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in sweep["notes"]) + "</ul>")
    sections.append("<h2>Best variant per model</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in best_lines(sweep)))
    sections.append("</ul>")
    svg = tradeoff_svg(sweep)
    if svg:
        sections.append(
            f"<figure>{svg}<figcaption>Pareto front: no other variant is both faster and more accurate"
            " (on the same kind of machine).</figcaption></figure>"
        )
    sections.append("<h2>Runs</h2>")
    sections.append(html_table(headers, [[esc(c) for c in row] for row in rows], classes, align="lllll"))
    machines = [[esc(key), esc(len(m["nodes"]))] for key, m in (sweep.get("machines") or {}).items()]
    sections.append("<h2>Machines</h2>" + html_table(["machine", "nodes"], machines, align="l"))
    sections.append(
        f"<footer>Rendered from sweep.json (schema_version {esc(sweep.get('schema_version'))}) by ovq.</footer>"
    )
    return page(f"ovq sweep: {sweep['name']}", "\n".join(sections))
