"""The command palette's "Noun: Verb" entries, built from the active screen's own bindings.

Each binding with an id is an entry: the noun comes from its id (``agent.pause``
is an Agent command), the verb is its description, the help its tooltip and
the keys it is bound to now (a user keymap included). Each entry runs the same
action as its key, on the node that binds it, so the palette, the key bar and
the keys can never disagree. The main screen adds one entry per agent to focus.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial

from textual.binding import ActiveBinding, Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from tui.screens.base import aar_app
from tui.screens.main import MainScreen

NOUNS: dict[str, str] = {
    "agent": "Agent",
    "team": "Team",
    "run": "Run",
    "app": "Run",
    "open": "Open",
    "forum": "Forum",
    "board": "Leaderboard",
    "jobs": "Evaluator",
    "inspect": "Inspect",
    "dialog": "Dialog",
    "inbox": "Inbox",
    "review": "Review",
    "timeline": "Timeline",
    "chart": "Chart",
    "replay": "Replay",
}
"""The noun of a binding's palette title, by the first part of its id."""


@dataclass(frozen=True)
class Entry:
    """One palette entry: what it reads and what it runs."""

    title: str
    help: str
    run: Callable[[], Awaitable[object]]


def palette_title(binding: Binding) -> str:
    """``Agent: Pause`` for ``Binding("p", "pause", "Pause", id="agent.pause")``."""
    prefix = (binding.id or "").split(".", 1)[0]
    return f"{NOUNS.get(prefix, prefix.capitalize())}: {binding.description}"


def entries(
    active: Iterable[ActiveBinding],
    run_action: Callable[[str, DOMNode], Awaitable[object]],
    key_display: Callable[[Binding], str],
) -> list[Entry]:
    """One entry per titled action of ``active`` (the screen's bindings), its keys joined: ``(S / ^x)``."""
    keys: dict[str, list[str]] = {}
    found: dict[str, ActiveBinding] = {}
    for bound in active:
        binding = bound.binding
        if binding.id is None or not binding.description or binding.system or binding.action.startswith("focus_agent"):
            continue
        title = palette_title(binding)
        found.setdefault(title, bound)
        keys.setdefault(title, []).append(key_display(binding))
    out = []
    for title, bound in found.items():
        shown = " / ".join(dict.fromkeys(keys[title]))
        help_text = f"{bound.binding.tooltip} ({shown})" if bound.binding.tooltip else f"({shown})"
        out.append(Entry(title, help_text, partial(run_action, bound.binding.action, bound.node)))
    return out


class AarCommands(Provider):
    """Palette entries for the screen it was opened from, one per agent to focus there."""

    def _entries(self) -> list[Entry]:
        app = self.app
        found = entries(self.screen.active_bindings.values(), app.run_action, app.get_key_display)
        if isinstance(self.screen, MainScreen):
            found += self._focus_entries()
        return found

    def _focus_entries(self) -> list[Entry]:
        names = aar_app(self.screen).model.agent_names()
        return [
            Entry(
                f"Agent: Focus {name}",
                f"Act on {name} from now on" + (f" ({i})" if i <= 9 else " (arrows)"),
                partial(self.screen.run_action, f"focus_agent({i})"),
            )
            for i, name in enumerate(names, 1)
        ]

    async def discover(self) -> Hits:
        for entry in self._entries():
            yield DiscoveryHit(entry.title, entry.run, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.title)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.title), entry.run, help=entry.help)
