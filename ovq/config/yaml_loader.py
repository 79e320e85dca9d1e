"""The YAML dialect of pipeline files: safe, duplicate keys rejected, YAML 1.2 numbers.

PyYAML's SafeLoader lets the last of two equal keys win silently (a pipeline with two `subset_size:` runs
with the second) and reads `1e-4` as a string (YAML 1.1 wants `1.0e-4`); both surprise users.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ovq.errors import ConfigError, InputFileError


class PipelineLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and reads 1e-4 as a float."""


def _construct_mapping(loader: PipelineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            first = seen[key].start_mark.line + 1
            raise ConfigError(
                f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first given on line {first})",
                hint="remove one of them; YAML would silently keep only the last",
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


PipelineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.2 floats (1e-4, 5E3) beside YAML 1.1's; without it `learning_rate: 1e-4` is the string "1e-4".
PipelineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse pipeline YAML; duplicate keys raise ConfigError naming the line."""
    return yaml.load(text, Loader=PipelineLoader)


def _refuse_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ConfigError(f"duplicate key {duplicates[0]!r}", hint="remove one of them; JSON would keep only the last")
    return dict(pairs)


def read_config_file(path: str | Path, *, what: str, hint: str) -> Any:
    """Read and parse a YAML (or, by its .json suffix, JSON) file that configures ovq; one-line errors.

    ``what`` names the file in messages ("pipeline file", "sweep file", "baseline file"); ``hint`` says
    what to pass instead when the path is wrong. Every kind of file ovq reads this way gets the same
    errors: missing, a directory, not UTF-8, unreadable, not valid YAML/JSON, a duplicate key.
    """
    file = Path(path)
    if file.is_dir():
        raise InputFileError(f"{what} {file} is a directory", hint=hint)
    if not file.is_file():
        raise InputFileError(f"{what} not found: {file}", hint=hint)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{what} {file} is not UTF-8 text (byte {exc.start}: {exc.reason})", hint="save it as UTF-8"
        ) from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {file}: {exc.strerror}") from None
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_refuse_duplicate_json_keys)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{file}: {exc.message}", hint=exc.hint) from None
    try:
        return load_yaml(text)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc.message}", hint=exc.hint) from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(f"{file}: not valid YAML: {problem}", hint="check indentation and quoting") from None
