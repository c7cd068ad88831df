"""Reading a run file: TOML, then overrides, then validation, with one line per problem."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aar.config.models import RunConfig
from aar.config.overrides import apply_override, parse_override
from aar.errors import ConfigError


def format_validation_error(error: ValidationError, root: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    """One line per problem: dotted key, what is wrong, what is allowed.

    ``root`` is the model that was validated and ``prefix`` its place in the run file: a feature checks
    its options table (``monitors.2.options``) with its own model and reports keys as the file spells them."""
    lines: list[str] = []
    for item in error.errors():
        parts, table = _walk(item["loc"], root)
        loc = ".".join([prefix] * bool(prefix) + [_key(p) for p in parts])
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = f" (allowed: {', '.join(table.model_fields) or 'none'})" if table else ""
            lines.append(f"{loc}: unknown key{allowed}")
            continue
        if kind == "union_tag_invalid":  # a [task] whose name no task model has
            tags = " or ".join(str(t) for t in str(item["ctx"]["expected_tags"]).split(", "))
            lines.append(f"{loc}.name: Input should be {tags} (got {item['ctx']['tag']!r})")
            continue
        msg = item["msg"].removeprefix("Value error, ")
        if kind == "string_pattern_mismatch":
            msg = f"{msg.replace('String should match pattern', 'must match')}"
        given = item.get("input")
        shown = "" if isinstance(given, (dict, list)) or given is None else f" (got {given!r})"
        lines.append(f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}")
    return lines


def _walk(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[list[int | str], type[BaseModel] | None]:
    """``loc`` as the run file spells it, and the model of the table holding its last key.

    pydantic puts a union member's tag in the location (``task.jsonl.data_dir``);
    the run file has no such table, so the tag is dropped (``task.data_dir``).
    """
    annotation: Any = root
    parent: type[BaseModel] | None = None
    shown: list[int | str] = []
    for part in loc:
        if isinstance(part, int):
            shown.append(part)
            continue
        members = _models_of(annotation)
        tagged = {_tag(m): m for m in members}
        if len(members) > 1 and part in tagged:
            annotation = tagged[part]  # a tag, not a key
            continue
        shown.append(part)
        parent = members[0] if members else None
        field = parent.model_fields.get(part) if parent else None
        annotation = field.annotation if field else None
    return shown, parent


def _key(part: int | str) -> str:
    """A key as TOML writes it: quoted where it is not bare (a model id with dots)."""
    text = str(part)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text, ensure_ascii=False)


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds (one for a table or a list of tables, several for a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_of(arg)]


def _tag(model: type[BaseModel]) -> str:
    field = model.model_fields.get("name")
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ()) if field else ()
    return str(args[0]) if len(args) == 1 else ""


def _anchor_tls_files(data: dict[str, Any], folder: Path) -> None:
    """A host's TLS files named relative to the config file are found beside it, wherever aar runs from."""
    sandbox = data.get("sandbox")
    hosts = sandbox.get("hosts") if isinstance(sandbox, dict) else None
    for host in hosts if isinstance(hosts, list) else []:
        tls = host.get("tls") if isinstance(host, dict) else None
        if not isinstance(tls, dict):
            continue
        for key, value in tls.items():
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                tls[key] = str((folder / value).resolve())


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
        _anchor_tls_files(data, path.parent)
    for text in overrides:
        path_parts, value = parse_override(text)
        apply_override(data, path_parts, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), label) from None
