"""The field tables of docs/report.md, generated from the report contract's models (ovq.report.schema).

    python -m ovq.report.schema_docs --write-docs   # regenerates the tables in docs/report.md

A test (tests/unit/test_report_schema.py) keeps the page in sync with the models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ovq.report.schema import (
    Benchmark,
    Budget,
    BudgetCheck,
    BudgetLimit,
    BudgetVerdict,
    CompileInfo,
    CompileMemory,
    Environment,
    ExecutionCompute,
    LatencyMs,
    Matrix,
    MatrixCellReport,
    MatrixEntryReport,
    MetricScore,
    Report,
    ReportError,
    ReportModel,
    StageRecord,
    VariantReport,
)

# ---- the documented field table (docs/report.md is checked against this) --------------------------------
_SECTIONS: tuple[tuple[str, type[ReportModel]], ...] = (
    ("report.json", Report),
    ("environment", Environment),
    ("stages[]", StageRecord),
    ("variants[]", VariantReport),
    ("variants[].compile", CompileInfo),
    ("variants[].compile.memory", CompileMemory),
    ("variants[].accuracy, variants[].metrics.NAME", MetricScore),
    ("variants[].benchmark", Benchmark),
    ("variants[].benchmark.latency_ms", LatencyMs),
    ("variants[].execution_compute", ExecutionCompute),
    ("budget", Budget),
    ("budget.metrics.NAME", BudgetLimit),
    ("budget.variants.NAME", BudgetVerdict),
    ("budget.variants.NAME.checks[]", BudgetCheck),
    ("matrix", Matrix),
    ("matrix.cells[]", MatrixCellReport),
    ("matrix.entries[]", MatrixEntryReport),
    ("error", ReportError),
)
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_text(annotation: Any) -> str:
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_text(arg) for arg in args)
    if origin is Literal:
        return " \\| ".join(f'"{arg}"' for arg in args)
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"map of {_type_text(args[1])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, ReportModel):
        return "object"
    return _SCALARS.get(annotation, "any")


def field_table_markdown() -> str:
    """The field tables of docs/report.md, generated from the models (a test keeps the docs in sync)."""
    lines: list[str] = []
    for title, model in _SECTIONS:
        lines += [f"### `{title}`", "", "| field | type | meaning |", "| --- | --- | --- |"]
        for name, info in model.model_fields.items():
            required = " (required)" if info.is_required() else ""
            lines.append(f"| `{name}` | {_type_text(info.annotation)}{required} | {info.description or ''} |")
        lines.append("")
    return "\n".join(lines)


def _write_docs(path: Path) -> None:
    begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
    text = path.read_text(encoding="utf-8")
    start, stop = text.index(begin) + len(begin), text.index(end)
    path.write_text(text[:start] + field_table_markdown() + text[stop:], encoding="utf-8")


if __name__ == "__main__":
    # python -m ovq.report.schema_docs --write-docs   (regenerates the tables in docs/report.md)
    import sys

    if sys.argv[1:] == ["--write-docs"]:
        _write_docs(Path(__file__).resolve().parents[2] / "docs" / "report.md")
    else:
        print(field_table_markdown())
