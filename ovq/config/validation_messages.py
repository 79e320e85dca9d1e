"""One-line messages for pydantic validation errors: the field path, what is wrong, what is allowed there.

Shared by every file ovq validates (pipeline files, sweep files): a typo names its field path, the closest
allowed name and the whole list, never a silently ignored key.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ovq.config.stages import STAGE_KINDS, STAGE_MODELS
from ovq.errors import ConfigError


def describe_validation_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """Every problem on one line (separated by "; "), each naming the field path and what is allowed there.

    ``root`` is the model that was validated: unknown fields are listed against it.
    """
    problems: dict[str, str] = {}  # loc -> message, in order
    union_wants: dict[str, list[str]] = {}  # loc -> what each member of a union field wanted
    for error in exc.errors():
        if _union_member(error["loc"]) is not None:
            # `int | Literal["auto"]` fails once per member: merge them into "a valid integer or 'auto'".
            loc = _format_loc(error["loc"][:-1])
            given = error["input"]
            union_wants.setdefault(loc, []).append(error["msg"].removeprefix("Input should be "))
            wanted = " or ".join(union_wants[loc])
            problems[loc] = f"{loc}: Input should be {wanted} (got {given!r}, a {type(given).__name__})"
            continue
        loc = _format_loc(error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(root, error["loc"][:-1])
            close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1, cutoff=0.6)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            listing = f" allowed: {', '.join(allowed)}" if allowed else ""
            problems[loc] = f"{loc}: unknown field{suggestion}{listing}"
        elif error["type"] == "union_tag_invalid":
            problems[loc] = f"{loc}: unknown stage {error['input'].get('stage')!r}; allowed: {', '.join(STAGE_KINDS)}"
        elif error["type"] == "union_tag_not_found":
            problems[loc] = f"{loc}: missing 'stage:'; allowed: {', '.join(STAGE_KINDS)}"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if error["type"].endswith("_type") or error["type"] == "finite_number":
                # Strict types: say what was given (`true` where a count goes is a bool, not 1).
                given = error["input"]
                if not isinstance(given, dict | list):
                    message += f" (got {given!r}, a {type(given).__name__})"
            problems[loc] = f"{loc}: {message}" if loc else message
    # One line: the CLI prints `error: ...` then `hint: ...`.
    return "; ".join(problems.values())


def _union_member(loc: tuple[int | str, ...]) -> str | None:
    """The union member tag pydantic appends to an error location (`int`, `literal['auto']`), if any."""
    last = loc[-1] if loc else None
    if isinstance(last, str) and (last in ("int", "float", "str", "bool", "none") or "[" in last):
        return last
    return None


def _format_loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    skip_next_tag = False
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
            # After a stage index pydantic puts the discriminator tag; it is not a real field.
            skip_next_tag = index > 0 and loc[index - 1] == "stages"
        elif skip_next_tag:
            skip_next_tag = False
        else:
            text += f".{part}" if text else str(part)
    return text


def _allowed_fields(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Walk the schema along an error location to list the fields allowed there."""
    model: Any = root
    index = 0
    while index < len(loc):
        part = loc[index]
        if index == 0 and part == "stages" and "stages" in root.model_fields:
            # ("stages", list index, discriminator tag, ...)
            model = STAGE_MODELS.get(str(loc[index + 2])) if len(loc) > index + 2 else None
            if model is None:
                return []
            index += 3
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
        # dict[str, Model] (budget.metrics): the next location part is the mapping key, not a field.
        index += 2 if typing.get_origin(field.annotation) is dict else 1
    return sorted(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


ModelT = typing.TypeVar("ModelT", bound=BaseModel)


def validate_config(model: type[ModelT], raw: Any, *, source: str, hint: str | None = None) -> ModelT:
    """``model.model_validate(raw)``, or a ConfigError naming ``source`` and every problem on one line."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc, model)}", hint=hint) from None
