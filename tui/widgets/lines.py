"""How model lines and agent statuses look: a symbol first, colour second (NO_COLOR stays readable).

The colours are the theme's: each line kind and each status is a component
class (``line--tool``, ``status--paused``) whose rule in ``tui/theme.tcss``
names theme variables, so switching the theme (``ctrl+p``, then "Theme")
recolours agent output too. The screen holds the classes (``RunScreen``), not
each widget that draws them: a widget's component styles are computed again
whenever its own classes change, and the agent panes change theirs at every
focus key (21 classes per pane made a key press wait ~20 ms for restyling).
"""

from __future__ import annotations

from typing import get_args

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from aar.events import AgentStatus
from aar.store import AgentRow
from tui.model import LineKind
from tui.text import dollars, tokens

_PLAIN = Style()

LINE_CLASSES: frozenset[str] = frozenset(f"line--{kind}" for kind in get_args(LineKind))
"""Component classes of the tail lines, one per kind; ``tui/theme.tcss`` colours them from the theme's variables."""

STATUS_CLASSES: frozenset[str] = frozenset(f"status--{status}" for status in (*get_args(AgentStatus), "no_daemon"))
"""Component classes of the agents' statuses (and ``no_daemon``); run states without one are drawn plain."""


def line_style(widget: Widget, kind: str) -> Style:
    """The look of a tail line of ``kind`` on ``widget``'s screen (Textual caches it until the styles change)."""
    return widget.screen.get_component_rich_style(f"line--{kind}", default=_PLAIN)


def status_text(status: str, widget: Widget) -> Text:
    """The status in upper case, so it reads without colour; coloured as ``widget``'s screen says."""
    style = widget.screen.get_component_rich_style(f"status--{status}", default=_PLAIN)
    return Text(status.upper().replace("_", " "), style=style, end="")


def usage_text(row: AgentRow) -> Text:
    used = row.input_tokens + row.output_tokens
    return Text(f"step {row.steps} · {tokens(used)} tok · {dollars(row.cost_usd)}", style="dim", end="")


def join_lines(lines: list[Text]) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        out.append_text(line)
    return out
