"""The YAML dialect of pipeline files: safe, duplicate keys rejected, YAML 1.2 numbers.

PyYAML's SafeLoader lets the last of two equal keys win silently (a pipeline with two `subset_size:` runs
with the second) and reads `1e-4` as a string (YAML 1.1 wants `1.0e-4`); both surprise users.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ovq.errors import ConfigError


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
