"""``--set key.path=value``: overrides applied to a run file's data before it is validated."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from aar.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``key.path=value``; the value is read as TOML, else as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_0-9][\w-]*)*", key):
        raise ConfigError([f"--set {text!r}: expected key.path=value, e.g. team.count=2"], "override")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[path...] = value``, creating tables; list items by index."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            node = node[_index(part, node, path[: i + 1])]
            continue
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, (dict, list)):
            raise ConfigError([f"{'.'.join(path[: i + 1])}: is a value, not a table"], "override")
        node = nxt
    last = path[-1]
    if isinstance(node, list):
        node[_index(last, node, path)] = value
    else:
        node[last] = value


def _index(part: str, items: list[Any], path: list[str]) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError([f"{'.'.join(path)}: no such list item (have {len(items)})"], "override")
    return int(part)
