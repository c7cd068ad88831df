"""Reading a run file: TOML, then overrides, then validation, with one line per problem."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aar.config.models import RunConfig
from aar.config.overrides import apply_override, parse_override
from aar.errors import ConfigError


def format_validation_error(error: ValidationError) -> list[str]:
    """One line per problem: dotted key, what is wrong, what is allowed."""
    lines: list[str] = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            lines.append(f"{loc}: unknown key{_allowed_keys(item['loc'])}")
            continue
        msg = item["msg"].removeprefix("Value error, ")
        if kind == "string_pattern_mismatch":
            msg = f"{msg.replace('String should match pattern', 'must match')}"
        given = item.get("input")
        shown = "" if isinstance(given, (dict, list)) or given is None else f" (got {given!r})"
        lines.append(f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}")
    return lines


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    """The keys a table allows, found by walking the models along ``loc``."""
    model: type[BaseModel] | None = RunConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_of(field.annotation) if field else None
    if model is None:
        return ""
    return f" (allowed: {', '.join(model.model_fields)})"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def load_config(source: Path | str | dict[str, Any], overrides: Sequence[str] = ()) -> RunConfig:
    """Read, override and validate a run config; raise ConfigError with every problem."""
    label = str(source) if not isinstance(source, dict) else "config"
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(["no such file; pass a run file such as examples/demo.toml"], label)
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], label) from None
    for text in overrides:
        path_parts, value = parse_override(text)
        apply_override(data, path_parts, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), label) from None
