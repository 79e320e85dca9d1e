"""Every declared metric reaches report.md, report.html and the console, with the speed-up explained."""

from __future__ import annotations

from typing import Any

import pytest

from ovq.config.schema import parse_pipeline
from ovq.errors import ConfigError
from ovq.report.console import render_console_table
from ovq.report.html import render_html
from ovq.report.markdown import render_markdown


def _variant(name: str, agreement: float, mse: float, fps: float, speedup: float) -> dict[str, Any]:
    metrics = {
        "agreement": {"metric": "agreement", "value": agreement, "drop": 1.0 - agreement, "higher_is_better": True},
        "landmark_mse": {"metric": "landmark_mse", "value": mse, "drop": mse, "higher_is_better": False},
    }
    return {
        "name": name,
        "precision": "int8" if name == "int8" else "fp32",
        "size_bytes": 1000,
        "accuracy": metrics["agreement"],
        "metrics": metrics,
        "benchmark": {"throughput_fps": fps, "speedup_vs_reference": speedup, "latency_ms": {"median": 1.0}},
    }


REPORT = {
    "schema_version": 1,
    "pipeline": "two-metrics",
    "status": "succeeded",
    "stages": [],
    "variants": [_variant("fp32", 1.0, 0.0, 100.0, 1.0), _variant("int8", 0.9876, 2.5, 180.0, 1.8)],
}


def test_markdown_html_and_console_show_every_metric() -> None:
    from rich.console import Console

    markdown, html = render_markdown(REPORT), render_html(REPORT)
    console = Console(width=250, record=True)
    console.print(render_console_table(REPORT))
    text = console.export_text()
    for rendered in (markdown, html, text):
        assert "agreement" in rendered and "landmark_mse drop" in rendered
        assert "2.5000" in rendered and "0.9876" in rendered
        assert "median over interleaved repeats" in rendered


def test_builtin_metrics_cannot_run_without_targets() -> None:
    raw = {
        "name": "x",
        "model": {"onnx": "m.onnx"},
        "metrics": {"m": {"function": "cosine", "against": "none"}},
        "stages": [{"stage": "export"}],
    }
    with pytest.raises(ConfigError, match="compares with targets"):
        parse_pipeline(raw)
