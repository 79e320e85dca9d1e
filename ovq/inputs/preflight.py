"""Checks of a pipeline against the disk that are cheap enough for `ovq pipeline validate`.

The schema checks what a file says; these check that what it names is there: recipes, the .py files of
factories, metrics and training hooks. Nothing is imported or executed, so validating stays instant.
"""

from __future__ import annotations

from pathlib import Path

from ovq.config.schema import PipelineConfig, code_references
from ovq.errors import ConfigError, InputFileError
from ovq.inputs.recipes import recipe_search_path


def preflight(config: PipelineConfig, base_dir: Path | None) -> None:
    """Raise the error a run would hit later (unknown recipe, missing factory file) before any work starts."""
    recipes = {("model.recipe", config.model.recipe)} if config.model.recipe else set()
    recipes |= {(f"datasets.{name}.recipe", spec.recipe) for name, spec in config.datasets.items() if spec.recipe}
    for where, name in sorted(recipes):
        _check_recipe(where, name, base_dir)
    for where, reference in code_references(config):
        module_part = reference.rpartition(":")[0]
        if module_part.endswith(".py"):
            check_input_file(resolve(module_part, base_dir), f"{where}: the python file of {reference!r}")


def resolve(path: str, base_dir: Path | None) -> Path:
    file = Path(path)
    return file if file.is_absolute() or base_dir is None else base_dir / file


def check_input_file(path: Path, what: str) -> None:
    """A file the run reads: it must exist and be a file, not a folder."""
    if path.is_dir():
        raise InputFileError(f"{what} is a directory, not a file: {path}")
    if not path.is_file():
        raise InputFileError(f"{what} not found: {path}")


def _check_recipe(where: str, name: str, base_dir: Path | None) -> None:
    if name.endswith(".py"):
        check_input_file(resolve(name, base_dir), f"{where}: recipe file")
        return
    roots = recipe_search_path(base_dir)
    if any((root / name / "recipe.py").is_file() for root in roots):
        return
    available = sorted({p.parent.name for root in roots for p in root.glob("*/recipe.py")})
    raise ConfigError(
        f"{where}: model recipe {name!r} not found",
        hint=f"available recipes: {', '.join(available) or 'none'} (searched {', '.join(map(str, roots))})",
    )
