"""Load user code named in a pipeline file: 'package.module:function' or 'path/to/file.py:function'."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ovq.errors import ConfigError, InputFileError


def load_module_from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise InputFileError(f"python file not found: {path}")
    # A stable, path-derived module name keeps pickling and repeated loads of the same file consistent.
    module_name = "ovq_user_" + "_".join(path.resolve().with_suffix("").parts[-3:]).replace("-", "_")
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}", hint="the file must be a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise ConfigError(
            f"{path}:{exc.lineno}: syntax error: {exc.msg}", hint="fix the Python file named in the pipeline"
        ) from None
    except SystemExit as exc:
        del sys.modules[module_name]
        raise ConfigError(
            f"importing {path} called sys.exit({exc.code!r})", hint="keep module-level code free of sys.exit()"
        ) from None
    except Exception:
        del sys.modules[module_name]
        raise
    return module


def load_callable(reference: str, *, base_dir: Path | None = None) -> Callable[..., Any]:
    """Resolve a reference to a callable. Relative file paths resolve against base_dir (the pipeline's folder)."""
    module_part, sep, attribute = reference.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ConfigError(
            f"{reference!r} is not a code reference",
            hint="write 'package.module:function' or 'path/to/file.py:function'",
        )
    if module_part.endswith(".py"):
        file = Path(module_part)
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        module = load_module_from_file(file)
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"cannot import module {module_part!r} named in {reference!r}: {exc}",
                hint="check the spelling, or that the package is installed in ovq's environment",
            ) from None
    target = getattr(module, attribute, None)
    if target is None or not callable(target):
        public = [name for name in dir(module) if not name.startswith("_") and callable(getattr(module, name))]
        raise ConfigError(
            f"{reference!r}: {module_part} has no callable named {attribute!r}",
            hint=f"callables there: {', '.join(public)}",
        )
    return target  # type: ignore[no-any-return]


def call_user_code(function: Any, what: str) -> Any:
    """Call a user's function; its sys.exit() is a failure of that function, not the end of ovq with its code."""
    try:
        return function()
    except SystemExit as exc:
        raise ConfigError(
            f"{what} called sys.exit({exc.code!r})", hint="raise an exception instead of exiting the process"
        ) from None
