"""The CPU-class views of a report: the header's class line and the per-target table (compile.targets)."""

from __future__ import annotations

from ovq.report.rows import DASH
from ovq.report.schema import Report, ReportLike, parse_report


def cpu_class_line(report: ReportLike) -> str | None:
    """``CPU class: avx2 (default precision f32; INT8: ...)``, the plugin's measured default where the run has it."""
    from ovq.runtime.cpu_class import cpu_class

    parsed = parse_report(report)
    name = parsed.environment.cpu_class
    if not name:
        return None
    try:
        known = cpu_class(name)
    except ValueError:
        return f"CPU class: {name}"
    line = f"CPU class: {known.name} (plugin default precision {_measured_default(parsed) or known.default_precision};"
    line += f" INT8: {known.int8})"
    host = parsed.environment.host_cpu_class
    if parsed.environment.isa_cap and host and host != known.name:
        line += f", emulated on a {host} host by an ISA cap"
    return line


def _measured_default(report: Report) -> str | None:
    for stage in report.stages:
        decision = (stage.details or {}).get("default_candidate") if stage.kind == "compile" else None
        if isinstance(decision, dict) and decision.get("plugin_default"):
            return str(decision["plugin_default"])
    return None


def target_lines(report: ReportLike) -> list[tuple[str, str, str, str]]:
    """(target, status, per-variant numbers, deliverable and why) per CPU class the run answers for."""
    rows = []
    for target in parse_report(report).targets or []:
        status = str(target.get("status"))
        if status != "measured":
            rows.append((str(target.get("target")), status.replace("_", " "), DASH, str(target.get("reason") or "")))
            continue
        cells = []
        for name, numbers in (target.get("variants") or {}).items():
            drops = ", ".join(
                f"{metric} {block['value']:.4g} (drop {block['drop']:+.4g})"
                for metric, block in (numbers.get("accuracy") or {}).items()
                if block.get("value") is not None and block.get("drop") is not None
            )
            fps = numbers.get("throughput_fps")
            speed = f"{fps:.1f} FPS" if fps else "no benchmark"
            ratio = numbers.get("speedup_vs_reference")
            speed += f", {ratio:.2f}x FP32" if ratio else ""
            speed += " (noisy)" if numbers.get("noisy") else ""
            precision = numbers.get("inference_precision") or "?"
            cells.append(f"{name} [{precision}]: {speed}" + (f"; {drops}" if drops else ""))
        verdict = f"deliverable {target['deliverable']}: " if target.get("deliverable") else ""
        why = verdict + str(target.get("reason") or "")
        rows.append((str(target.get("target")), str(target.get("cpu_class")), " · ".join(cells), why))
    return rows
