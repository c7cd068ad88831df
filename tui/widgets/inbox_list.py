"""The inbox's items as a list with a cursor, drawn only where it is on screen.

A table widget measures every cell of every row before its first frame: with
hundreds of items that alone took a quarter of a second. This list draws the
rows in view, one strip each, so opening an inbox of thousands of items costs
what the screen shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from aar.store import InboxRow
from tui.text import one_line, visible

RANK_MARKS = {0: ("!!", "bold red"), 1: ("! ", "bold yellow"), 2: ("· ", "dim")}
"""How each rank starts its row: punctuation too, so it reads without colour."""
AGENT_WIDTH = 10
HEADER = f"    {'when':<8}  {'agent':<{AGENT_WIDTH}}  what"
_PLAIN = Style()


def item_text(item: InboxRow) -> Text:
    """``!! 12:01:02  agent-2     ask: the question``: rank, when, which agent, what; ``monitor (+2): ...``
    when two more items share its subject (the screen lists their reasons under the list)."""
    mark, style = RANK_MARKS.get(item.rank, ("  ", ""))
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(mark, style=style)
    line.append("  " + datetime.fromtimestamp(item.ts).strftime("%H:%M:%S") + "  ")
    agent = visible(item.agent or "run")[:AGENT_WIDTH]
    line.append(f"{agent:<{AGENT_WIDTH}}  ", style="bold")
    more = f" (+{len(item.reasons) - 1})" if len(item.reasons) > 1 else ""
    line.append(f"{item.kind}{more}: ", style="bold")
    line.append(visible(one_line(item.summary, 300)))
    return line


def reasons_text(item: InboxRow | None) -> Text:
    """The reasons of a row that stands for several items, one a line (plain text: never markup)."""
    reasons = item.reasons if item is not None and len(item.reasons) > 1 else []
    return Text("\n".join(f"· {visible(one_line(r, 300))}" for r in reasons), no_wrap=True, overflow="ellipsis")


class InboxList(ScrollView, can_focus=True):
    """Ranked inbox items; ``cursor`` is the chosen one."""

    DEFAULT_CSS = """
    InboxList {
        height: 1fr;
        overflow-x: hidden;
    }
    InboxList > .inbox-list--cursor {
        background: $accent;
        text-style: bold;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"inbox-list--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1000000000)", "First", show=False),
        Binding("end", "move(1000000000)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Chosen(Message):
        """The cursor is on another item, or the items changed under it."""

        def __init__(self, item: InboxRow | None) -> None:
            super().__init__()
            self.item = item

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[InboxRow] = []
        self.empty_text = "nothing needs you right now"

    def show(self, items: list[InboxRow], *, keep_id: int | None = None) -> None:
        """Replace the items; the cursor stays on ``keep_id`` if it is still listed, else where it was."""
        self.items = items
        self.virtual_size = Size(self.size.width, max(len(items), 1))
        index = next((i for i, it in enumerate(items) if it.id == keep_id), None) if keep_id is not None else None
        self.cursor = index if index is not None else min(self.cursor, max(len(items) - 1, 0))
        self.refresh()

    @property
    def chosen(self) -> InboxRow | None:
        return self.items[self.cursor] if 0 <= self.cursor < len(self.items) else None

    def watch_cursor(self, cursor: int) -> None:
        height = self.scrollable_content_region.height
        if cursor < self.scroll_offset.y:
            self.scroll_to(y=cursor, animate=False)
        elif height and cursor >= self.scroll_offset.y + height:
            self.scroll_to(y=cursor - height + 1, animate=False)
        self.refresh()
        self.post_message(self.Chosen(self.chosen))

    def action_move(self, delta: int) -> None:
        if self.items:
            self.cursor = max(0, min(len(self.items) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(self.scrollable_content_region.height - 1, 1))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if not self.items:
            text = Text(self.empty_text if y == 0 else "", style="dim", no_wrap=True, end="")
            return self._strip(text, width, _PLAIN)
        if index >= len(self.items):
            return Strip.blank(width, _PLAIN)
        base = self.get_component_rich_style("inbox-list--cursor") if index == self.cursor else _PLAIN
        return self._strip(item_text(self.items[index]), width, base)

    def _strip(self, text: Text, width: int, base: Style) -> Strip:
        text.truncate(width, overflow="ellipsis")
        # Every segment gets a style: Textual's NO_COLOR filter reads each segment's colours.
        segments = [Segment(s.text, base + (s.style or _PLAIN)) for s in text.render(self.app.console)]
        return Strip(segments).extend_cell_length(width, base)
