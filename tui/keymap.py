"""The user's keymap: binding ids to keys, read from a TOML file before the TUI starts.

The file is ``$AAR_KEYMAP`` where that is set, else ``keymap.toml`` under
``$XDG_CONFIG_HOME/aar`` (``~/.config/aar``). Each entry names a binding by
its id and gives its keys, comma-separated::

    "agent.pause" = "P"        # or, as a table: [agent] pause = "P"
    "run.stop" = "ctrl+x"

Textual applies it to every screen (``App.set_keymap``). An id no screen
binds, or a value that is not a key, is an error on one line that names the
file and the fix; the ids are listed in the README ("The control room").
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.dom import DOMNode

from aar.errors import AarError

KEYMAP_ENV = "AAR_KEYMAP"
UI_PACKAGES = ("tui.screens", "tui.widgets")
"""Where the bindings live: every node class defined in these packages, and the app."""


class KeymapError(AarError):
    """The keymap file cannot be used; the message names the file and what to change."""


def keymap_path() -> Path:
    """``$AAR_KEYMAP``, else ``$XDG_CONFIG_HOME/aar/keymap.toml`` (``~/.config/aar/keymap.toml``)."""
    if explicit := os.environ.get(KEYMAP_ENV):
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "aar" / "keymap.toml"


def _node_classes() -> Iterator[type[DOMNode]]:
    from tui.app import AarApp  # the app imports the screens; this runs after both are loaded

    yield AarApp
    for package_name in UI_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, DOMNode) and value.__module__ == module.__name__:
                    yield value


def binding_ids() -> dict[str, Binding]:
    """Every binding id of the control room, with its first binding (key, description, tooltip)."""
    found: dict[str, Binding] = {}
    for node_class in _node_classes():
        for binding in Binding.make_bindings(node_class.__dict__.get("BINDINGS", [])):
            if binding.id is not None:
                found.setdefault(binding.id, binding)
    return found


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"agent": {"pause": "P"}}`` -> ``("agent.pause", "P")``: unquoted dotted ids are tables in TOML."""
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def parse_keymap(text: str, source: str) -> dict[str, str]:
    """The keymap in ``text`` (read from ``source``), checked against the bindings; ``KeymapError`` if unusable."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"keymap {source}: not valid TOML ({exc})") from None
    known = binding_ids()
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in _flatten(table):
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"keymap {source}: no key has the id {binding_id!r}{hint}; the README's control room lists the ids"
            )
        elif not isinstance(keys, str) or not all(key.strip() and " " not in key.strip() for key in keys.split(",")):
            problems.append(
                f"keymap {source}: {binding_id} = {keys!r} is not a key; give one or more, comma-separated,"
                ' e.g. "P" or "ctrl+p,f5"'
            )
        else:
            keymap[binding_id] = ",".join(key.strip() for key in keys.split(","))
    if problems:
        raise KeymapError("\n".join(problems))
    return keymap


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The user's keymap (``keymap_path()`` unless given); empty when there is no file and none was named."""
    path = path or keymap_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path == keymap_path() and KEYMAP_ENV not in os.environ:
            return {}  # no keymap: the default keys
        raise KeymapError(f"keymap {path}: no such file; create it or unset {KEYMAP_ENV}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeymapError(f"keymap {path}: cannot be read ({exc})") from None
    return parse_keymap(text, str(path))
