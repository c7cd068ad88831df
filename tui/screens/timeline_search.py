"""``/`` on the timeline: a query over every transcript and post (``aar search``'s FTS5 index), its hits listed
with agent, time and snippet; Enter on a hit returns it to the timeline, which moves its cursor there.

A query FTS5 cannot parse is the one line ``aar search`` prints, as a notification; the box stays open.
Snippets are agent text: drawn literally, their control characters spelled out.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from aar.errors import AarError
from aar.store.search_index import SearchHit
from tui.renderables import data
from tui.screens.base import aar_app
from tui.text import one_line

AGENT_WIDTH = 10


def hit_text(hit: SearchHit) -> Text:
    """``12:03:04 agent-3    step 4   output   the [heldout] file``: when, whose, where, what kind, the snippet."""
    where = f"post #{hit.ref}" if hit.kind == "post" else f"step {hit.step}"
    line = Text(datetime.fromtimestamp(hit.ts).strftime("%H:%M:%S") + " ", style="dim", no_wrap=True, end="")
    line.append_text(data(f"{one_line(hit.agent, AGENT_WIDTH):<{AGENT_WIDTH}} ", "bold"))
    line.append(f"{where:<9} {hit.kind:<9} ", style="dim")
    line.append_text(data(one_line(hit.snippet, 300)))
    return line


class TimelineSearch(ModalScreen[SearchHit | None]):
    """Asks for a query, lists its hits; returns the chosen hit (None: Escape)."""

    CSS_PATH = "timeline.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Back to the timeline", id="timeline.search-cancel")
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[SearchHit] = []
        self.searched = ""
        """The query whose hits are listed."""

    def compose(self) -> ComposeResult:
        with Vertical(id="timeline-search"):
            yield Label("search every transcript and post", id="timeline-search-title")
            yield Input(placeholder='words, "a phrase", canary NOT test, relabel* (FTS5)', id="timeline-search-input")
            yield OptionList(id="timeline-hits")
            yield Label(
                "enter search · ↓ the hits, enter moves the timeline there · escape back", classes="dialog-help"
            )

    @on(Input.Submitted, "#timeline-search-input")
    def submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.search(event.value.strip())

    @work(group="timeline-search", exclusive=True, exit_on_error=False)
    async def search(self, query: str) -> None:
        try:
            hits = await aar_app(self).client.search(query)
        except AarError as exc:  # a query FTS5 cannot parse: its one line, and the box stays open
            self.notify(str(exc), severity="warning", markup=False, timeout=10)
            return
        self.hits, self.searched = hits, query
        options = self.query_one("#timeline-hits", OptionList)
        options.clear_options()
        options.add_options([Option(hit_text(h), id=str(i)) for i, h in enumerate(hits)])
        if not hits:
            options.add_option(Option(Text(f"no match for {one_line(query, 60)}", style="dim"), disabled=True))
            return
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#timeline-hits")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(self.hits[int(event.option.id)])

    def action_cancel(self) -> None:
        self.dismiss(None)
