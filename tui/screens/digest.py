"""While you were away: the digest of what happened since the supervisor's last detach (``aar.digest``).

It opens by itself on attach after an absence longer than ``tui.digest_after_min``, and with ``w`` from
the main screen. Each line names its evidence (a submission ``#N``, an event, an inbox item); Enter closes
it and lands on the inbox, where the waiting items are.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import RichLog, Static

from aar.digest import Digest, render
from tui.screens.base import RunScreen
from tui.widgets.key_bar import KeyBar


class DigestScreen(RunScreen):
    CSS_PATH = "digest.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,w", "app.pop_screen", "Back", tooltip="Back to the agents", id="digest.back"),
        Binding("enter,I", "to_inbox", "Inbox", tooltip="Close the digest and open the inbox", id="digest.inbox"),
    ]

    def __init__(self, digest: Digest) -> None:
        super().__init__()
        self.digest = digest

    def compose(self) -> ComposeResult:
        yield Static(id="digest-title")
        yield RichLog(id="digest", wrap=True, markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        title, *lines = render(self.digest).split("\n")
        self.query_one("#digest-title", Static).update(Text(f"while you were away · {title}", style="bold"))
        log = self.query_one("#digest", RichLog)
        for line in lines:  # escaped already (agent text through aar.escape); never parsed as markup
            log.write(Text(line, style="" if line.startswith("  ") else "bold"))
        log.focus()

    async def action_to_inbox(self) -> None:
        from tui.screens.inbox import InboxScreen

        await self.app.pop_screen()
        await self.app.push_screen(InboxScreen())
