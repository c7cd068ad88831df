"""Run data as Rich text that is never interpreted: ``[bold]`` stays ``[bold]`` on screen.

The widgets' half of ``tui.text``: every renderable here is a ``rich.text.Text`` made from
plain strings that ``visible`` has already escaped.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from tui.text import visible


def data(text: str, style: str | Style = "") -> Text:
    """Agent- or user-produced text as a ``Text`` that is never interpreted."""
    return Text(visible(text), style=style, no_wrap=True, overflow="ellipsis", end="")
