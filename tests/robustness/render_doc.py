"""Write docs/reference/robustness.md from the robustness cases: `python -m tests.robustness.render_doc`."""

from __future__ import annotations

from pathlib import Path

from tests.robustness.cases import CASES

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "robustness.md"


def render() -> str:
    lines = [
        "# What ovq answers to bad inputs and faults",
        "",
        "Generated from `tests/robustness/cases.py` by `python -m tests.robustness.render_doc`; a test checks",
        "that it is up to date. Every case runs the real `ovq` command and checks the exit code, that the error",
        "is one line starting with `error` followed by a `hint:` line, that no traceback is printed and that no",
        "half-written artifact is left. Exit codes: 0 ok (with a warning in the report), 2 config, 3 stage,",
        "6 input file, 7 model format, 8 data mismatch (see `ovq/errors.py`).",
        "",
        f"{len(CASES)} cases, {sum(1 for c in CASES if c.xfail)} expected to fail until another branch lands.",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for case in CASES:
        # Messages naming files of this checkout are written relative to it: the page must not depend on where
        # the repository lies.
        message = case.message.replace(f"{REPO}/", "").replace("|", "\\|")
        status = f" *(xfail: {case.xfail})*" if case.xfail else ""
        what = case.what.replace("|", "\\|").replace("\n", " ")
        groups.setdefault(case.group, []).append(f"| `{case.id}` | {what} | {case.exit_code} | {message}{status} |")
    for group, rows in groups.items():
        lines += [f"## {group}", "", "| case | input | exit | message (part) |", "|---|---|---|---|", *rows, ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    PAGE.write_text(render())
    print(f"wrote {PAGE} ({len(CASES)} cases)")


if __name__ == "__main__":
    main()
