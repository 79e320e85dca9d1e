"""Docs examples are executed, so they cannot rot: every ```python block of the tutorials runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted((DOCS / "tutorials").glob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_tutorial_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)
    assert blocks, f"{page} has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)


HOW_TOS = sorted((DOCS / "how-to").glob("*.md"))


@pytest.mark.parametrize("page", HOW_TOS, ids=[p.stem for p in HOW_TOS])
def test_pipeline_examples_in_how_tos_validate(page: Path) -> None:
    import yaml

    from ovq.config.schema import parse_pipeline

    blocks = [b for b in re.findall(r"^```yaml\n(.*?)^```", page.read_text(), re.S | re.M) if "stages:" in b]
    for block in blocks:
        parse_pipeline(yaml.safe_load(block), source=str(page))  # raises ConfigError if the example rotted


EXECUTED_HOW_TOS = [DOCS / "how-to" / "own-model-and-images.md"]


@pytest.mark.parametrize("page", EXECUTED_HOW_TOS, ids=[p.stem for p in EXECUTED_HOW_TOS])
def test_how_to_runs_from_an_empty_folder(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks starting with `# file: NAME` are written to NAME; the other python blocks run in order."""
    blocks = re.findall(r"^```(python|yaml)\n(.*?)^```", page.read_text(), re.S | re.M)
    assert blocks, f"{page} has no examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for language, block in blocks:
        header = re.match(r"# file: (\S+)\n", block)
        if header:
            Path(header.group(1)).write_text(block)
        elif language == "python":
            exec(compile(block, str(page), "exec"), namespace)
