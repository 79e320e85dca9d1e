"""What a nightly job tells CI: a JUnit XML file and a Markdown summary.

JUnit: one ``<testsuite>`` per pipeline holding one ``<testcase>`` for the run itself and one per gate.
A run that could not produce a result is an ``<error>`` (the job needs fixing); a gate that failed, and
a run stopped by its own budget or speed gate, is a ``<failure>`` (the model got worse); a gate that
could not be checked is ``<skipped>``.

Markdown: fit for a CI summary page (e.g. ``cat summary.md >> "$GITHUB_STEP_SUMMARY"``): the failed
gates first, then a table of pipelines and their key metrics against the baseline.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from ovq.errors import StageError
from ovq.runtime.artifacts import atomic_path, write_text_atomic

if TYPE_CHECKING:
    from ovq.nightly.gates import GateResult
    from ovq.nightly.runner import NightlyResult, PipelineOutcome
    from ovq.report.schema import VariantReport

# Exit codes that mean "the model did not hold up" rather than "the run could not be done".
_FAILURE_CODES = frozenset({4, 5, 10})
# Characters XML 1.0 cannot carry at all, not even escaped (ANSI colour codes in messages, NULs).
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Terminal colour and cursor codes that error messages from other tools sometimes carry.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_TEXT = 20_000


# -- JUnit --------------------------------------------------------------------------------------------


def junit_tree(result: NightlyResult) -> ET.ElementTree[ET.Element]:
    """The JUnit XML document of a nightly result."""
    root = ET.Element("testsuites", name="ovq nightly")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for outcome in result.outcomes:
        suite = _suite(outcome)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{result.duration_s:.3f}")
    return ET.ElementTree(root)


def write_junit(result: NightlyResult, path: str | Path) -> Path:
    """Write the JUnit XML file atomically, check that it parses, and return its path."""
    path = Path(path)
    tree = junit_tree(result)
    ET.indent(tree)
    with atomic_path(path, suffix=".xml") as temporary:
        tree.write(temporary, encoding="utf-8", xml_declaration=True)
        try:
            ET.parse(temporary)
        except ET.ParseError as exc:
            raise StageError(f"the JUnit file ovq wrote does not parse: {exc}", stage="nightly") from exc
    return path


def _suite(outcome: PipelineOutcome) -> ET.Element:
    classname = f"ovq.nightly.{outcome.pipeline}"
    suite = ET.Element("testsuite", name=classname, timestamp=outcome.report.started_at or "")
    properties = ET.SubElement(suite, "properties")
    environment = outcome.report.environment
    for name, value in (
        ("pipeline_file", str(outcome.path)),
        ("run_dir", str(outcome.run_dir)),
        ("run_id", outcome.run_id),
        ("baseline", outcome.baseline_source),
        ("openvino", environment.openvino),
        ("nncf", environment.nncf),
        ("cpu", environment.cpu),
    ):
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=_clean(str(value)))

    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    run_case = _testcase(suite, classname, "pipeline run", outcome.duration_s)
    counts["tests"] += 1
    if outcome.error_exit_code:
        error = outcome.error
        error_type = error.type if error is not None else "Error"
        message = _clean(f"{error_type}: {error.message if error is not None else ''}")
        kind = "failure" if outcome.error_exit_code in _FAILURE_CODES else "error"
        element = ET.SubElement(
            run_case, kind, message=message, type=(error.type if error else "") or f"exit {outcome.error_exit_code}"
        )
        details = [message]
        if error is not None and error.stage:
            details.append(f"stage: {error.stage}")
        if error is not None and error.hint:
            details.append(f"hint: {error.hint}")
        if outcome.traceback:
            details.append(outcome.traceback)
        element.text = _clean("\n".join(details))
        counts["failures" if kind == "failure" else "errors"] += 1

    for gate in outcome.gates:
        case = _testcase(suite, classname, _gate_label(gate), 0.0)
        counts["tests"] += 1
        if gate.status == "failed":
            failure = ET.SubElement(case, "failure", message=_clean(gate.message), type=gate.name)
            failure.text = _clean(_gate_details(gate))
            counts["failures"] += 1
        elif gate.status == "skipped":
            ET.SubElement(case, "skipped", message=_clean(gate.message))
            counts["skipped"] += 1
        else:
            ET.SubElement(case, "system-out").text = _clean(gate.message)

    lines = [*(f"changed since baseline: {change}" for change in outcome.changes), *outcome.notes]
    if lines:
        ET.SubElement(suite, "system-out").text = _clean("\n".join(lines))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{outcome.duration_s:.3f}")
    return suite


def _testcase(suite: ET.Element, classname: str, name: str, seconds: float) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=_clean(name), time=f"{seconds:.3f}")


def _gate_label(gate: GateResult) -> str:
    parts = [gate.name]
    if gate.variant:
        parts.append(gate.variant)
    if gate.metric and gate.metric not in gate.name:
        parts.append(gate.metric)
    return " ".join(parts) if len(parts) == 1 else f"{parts[0]} [{' '.join(parts[1:])}]"


def _gate_details(gate: GateResult) -> str:
    details = [gate.message]
    for label, value in (("value", gate.value), ("baseline", gate.baseline), ("limit", gate.limit)):
        if value is not None:
            details.append(f"{label}: {value:.6g}")
    return "\n".join(details)


def _clean(text: str) -> str:
    text = _XML_INVALID.sub("\N{REPLACEMENT CHARACTER}", _ANSI_ESCAPE.sub("", text))
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + " …(truncated)"


# -- Markdown -----------------------------------------------------------------------------------------


def render_markdown(result: NightlyResult) -> str:
    """The Markdown summary: verdict, failed gates and errors first, then the pipelines table."""
    outcomes = result.outcomes
    failed = result.failed
    lines: list[str] = []
    if not failed:
        lines.append(f"## ✅ ovq nightly: all {len(outcomes)} pipeline(s) passed")
    else:
        lines.append(
            f"## ❌ ovq nightly: {len(failed)} of {len(outcomes)} pipeline(s) failed (exit code {result.exit_code})"
        )
    lines.append("")

    problems = [(outcome, gate) for outcome in outcomes for gate in outcome.failed_gates]
    run_errors = [outcome for outcome in outcomes if outcome.error_exit_code]
    if run_errors or problems:
        lines += ["### What failed", ""]
        for outcome in run_errors:
            error = outcome.error
            stage = f" [{error.stage}]" if error is not None and error.stage else ""
            error_type = (error.type if error is not None else "") or "Error"
            lines.append(
                f"- **{_md(outcome.pipeline)}**{stage}: run failed (exit {outcome.error_exit_code}) — "
                f"{_md(error_type)}: {_md(error.message if error is not None else '')}"
            )
            if error is not None and error.hint:
                lines.append(f"  - hint: {_md(error.hint)}")
        for outcome, gate in problems:
            if gate.name in ("budget", "perf_gate") and outcome.error_exit_code:
                continue  # already said above as the run's own error
            lines.append(f"- **{_md(outcome.pipeline)}** `{gate.name}`: {_md(gate.message)}")
        lines.append("")

    lines += [
        "### Pipelines",
        "",
        "| Pipeline | Status | Variant | Accuracy | Throughput (FPS) | Latency median (ms) | Size (MB) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for outcome in sorted(outcomes, key=lambda item: (item.ok, item.pipeline)):
        status = _status_cell(outcome)
        variants = [variant for variant in outcome.report.variants if variant.name]
        if not variants:
            lines.append(f"| {_md(outcome.pipeline)} | {status} | — | — | — | — | — |")
            continue
        for index, variant in enumerate(variants):
            first = index == 0
            lines.append(
                "| "
                + " | ".join(
                    [
                        _md(outcome.pipeline) if first else "",
                        status if first else "",
                        _md(variant.name),
                        *_metric_cells(outcome, variant),
                    ]
                )
                + " |"
            )
    lines.append("")
    lines.append("Values in brackets are the change against the baseline; **bold** marks a failed gate.")
    lines.append("")

    lines += ["### Details", ""]
    for outcome in outcomes:
        lines.append(f"- **{_md(outcome.pipeline)}** ({_code(str(outcome.path))}, {outcome.duration_s:.1f} s)")
        lines.append(f"  - baseline: {_md(outcome.baseline_source or 'none')}")
        if outcome.run_id is not None:
            lines.append(f"  - recorded as run {outcome.run_id}")
        for change in outcome.changes:
            lines.append(f"  - changed since baseline: {_md(change)}")
        for note in outcome.notes:
            lines.append(f"  - {_md(note)}")
        skipped = [gate for gate in outcome.gates if gate.status == "skipped"]
        if skipped:
            lines.append(f"  - {len(skipped)} gate(s) skipped, e.g. {_md(skipped[0].message)}")
        if outcome.plot_path is not None:
            lines.append(f"  - trend plot: {_code(str(outcome.plot_path))}")
    lines.append("")
    return "\n".join(lines)


def write_markdown(result: NightlyResult, path: str | Path) -> Path:
    """Write the Markdown summary atomically and return its path."""
    path = Path(path)
    return write_text_atomic(path, render_markdown(result))


def _status_cell(outcome: PipelineOutcome) -> str:
    if outcome.error_exit_code:
        return f"❌ run failed (exit {outcome.error_exit_code})"
    failed = len(outcome.failed_gates)
    if failed:
        return f"❌ {failed} gate(s) failed (exit {outcome.exit_code})"
    if outcome.exit_code:
        return f"⚠️ exit {outcome.exit_code}"
    return "✅ passed"


def _metric_cells(outcome: PipelineOutcome, variant: VariantReport) -> list[str]:
    gates = {gate.name: gate for gate in outcome.gates if gate.variant == variant.name}
    accuracy, benchmark, size = variant.accuracy, variant.benchmark, variant.size_bytes
    return [
        _cell(accuracy.value if accuracy else None, gates.get("accuracy_regression"), "{:.4f}", absolute=True),
        _cell(benchmark.throughput_fps if benchmark else None, gates.get("throughput_regression"), "{:,.1f}"),
        _cell(benchmark.latency_ms.median if benchmark else None, gates.get("latency_regression"), "{:.3f}"),
        _cell(size / 1e6 if size is not None else None, gates.get("size_regression"), "{:.2f}"),
    ]


def _cell(value: float | None, gate: GateResult | None, fmt: str, *, absolute: bool = False) -> str:
    if value is None:
        return "—"
    text = fmt.format(value)
    if gate is not None and gate.baseline is not None and gate.value is not None:
        if absolute:
            text += f" ({gate.value - gate.baseline:+.4f})"
        elif gate.baseline:
            text += f" ({gate.value / gate.baseline - 1.0:+.1%})"
    if gate is not None and gate.status == "failed":
        text = f"**{text}**"
    return text


def _md(text: str) -> str:
    """Text that cannot break a Markdown table row or start markup by accident."""
    text = " ".join(_CONTROL.sub("", _ANSI_ESCAPE.sub("", text)).split())
    for char in ("\\", "|", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text


def _code(text: str) -> str:
    # Backslash escapes do not work inside a code span; a backtick would end it, so swap it out.
    return "`" + " ".join(text.split()).replace("`", "'").replace("|", "\\|") + "`"
