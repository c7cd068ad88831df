"""The supervisor's inbox: everything that needs a human, ranked, with a key to act on each.

What blocks an agent comes first (tool calls waiting for approval, questions),
then alerts, then notices; newest first within each, except that an agent's
alerts are listed beside its question or approval (the store ranks them:
``InboxTable.inbox``), so a flood of questions cannot push them out of sight. Enter goes to what an
item is about (the agent, the post, the submission or the job), ``a`` answers
a question or approves a call, ``d`` denies a call, ``x`` acknowledges (the
store records who and when). Items about one subject (a post, a submission, a
job, a tool call) are one row: its reasons are listed under the list, and ``x``
acknowledges them all. The list is the top of the ranking; the title says how
many rows are open in all.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from aar.commands import Answer, Approve, Deny
from aar.store import InboxRow
from tui.model import Changes
from tui.screens.base import aar_app
from tui.screens.dialogs import PromptScreen
from tui.text import one_line
from tui.widgets.inbox_list import HEADER, InboxList, reasons_text
from tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from tui.app import AarApp

REFRESH_S = 2.0
"""Items settle on their own (a call decided, an agent went on); the list is read again this often."""


def supervisor_name() -> str:
    """Who acknowledges, for the record: the user running this TUI."""
    try:
        return f"{getpass.getuser()} (tui)"
    except Exception:  # no user name in this environment
        return "supervisor (tui)"


class InboxScreen(Screen[None]):
    CSS_PATH = "inbox.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,I", "app.pop_screen", "Back", tooltip="Back to the agents", id="inbox.back"),
        Binding(
            "enter",
            "go",
            "Go to",
            tooltip="The agent, post, submission or job of the chosen item",
            id="inbox.go",
            priority=True,
        ),
        Binding(
            "a",
            "answer",
            "Answer/Approve",
            tooltip="Answer the chosen question, or approve the chosen tool call",
            id="inbox.answer",
        ),
        Binding("d", "deny", "Deny", tooltip="Deny the chosen tool call, with a reason", id="inbox.deny"),
        Binding(
            "x",
            "acknowledge",
            "Acknowledge",
            tooltip="Mark the chosen item seen; who and when are recorded",
            id="inbox.ack",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[InboxRow] = []
        self.open_count = 0

    @property
    def aar(self) -> AarApp:
        return aar_app(self)

    def compose(self) -> ComposeResult:
        yield Static(id="inbox-title")
        yield Static(HEADER, id="inbox-header", markup=False)
        yield InboxList(id="inbox-items")
        yield Static(id="inbox-reasons")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(InboxList).focus()
        self.load()
        self.set_interval(REFRESH_S, self.load, name="inbox")

    def refresh_views(self, changes: Changes) -> None:
        if changes.status and self.aar.model.inbox_open != self.open_count:
            self.load()

    @work(group="inbox", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        items, self.open_count = await self.aar.client.inbox()
        self._show(items)

    def _show(self, items: list[InboxRow]) -> None:
        listing = self.query_one(InboxList)
        keep = listing.chosen
        self.items = items
        listing.show(items, keep_id=keep.id if keep else None)
        shown = f"the first {len(items)} of " if self.open_count > len(items) else ""
        blocking = sum(1 for i in items if i.rank == 0)
        title = f"inbox · {shown}{self.open_count} open" + (f" · {blocking} blocking an agent" if blocking else "")
        self.query_one("#inbox-title", Static).update(title)

    @on(InboxList.Chosen)
    def _show_reasons(self, event: InboxList.Chosen) -> None:
        """Under the list: every reason of the chosen row, when it stands for several items."""
        reasons = self.query_one("#inbox-reasons", Static)
        reasons.update(reasons_text(event.item))
        reasons.display = event.item is not None and len(event.item.reasons) > 1

    @property
    def selected(self) -> InboxRow | None:
        return self.query_one(InboxList).chosen

    def _need(self) -> InboxRow | None:
        item = self.selected
        if item is None:
            self.notify("the inbox is empty", severity="warning", markup=False)
        return item

    # ------------------------------------------------------------ actions

    def action_go(self) -> None:
        """Leave the inbox for what the item is about: a post, a submission, a job, or else its agent."""
        if item := self._need():
            from tui.screens.inbox_jumps import jump

            # An app worker: this screen goes away before the jump is done.
            self.app.run_worker(jump(self.aar, item), group="inbox-go", exclusive=True, exit_on_error=False)

    def action_answer(self) -> None:
        item = self._need()
        if item is None or item.agent is None:
            return
        agent, call_id = item.agent, item.call_id or ""
        if item.kind == "approval":
            self.aar.send_command(Approve(call_id=call_id), agent)
        elif item.kind == "ask":
            prompt = PromptScreen(f"Answer {agent}: {one_line(item.summary, 120)}", placeholder="your answer")

            def answered(text: str | None) -> None:
                if text:
                    self.aar.send_command(Answer(call_id=call_id, text=text), agent)

            self.app.push_screen(prompt, answered)
        else:
            self.notify("only a question or a tool call waiting for approval takes an answer", markup=False)

    def action_deny(self) -> None:
        item = self._need()
        if item is None or item.agent is None or item.kind != "approval":
            self.notify("only a tool call waiting for approval can be denied", markup=False)
            return
        agent, call_id = item.agent, item.call_id or ""
        prompt = PromptScreen(f"Deny {agent}'s call: why?", placeholder="the reason the agent reads (optional)")

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.aar.send_command(Deny(call_id=call_id, reason=reason), agent)

        self.app.push_screen(prompt, answered)

    def action_acknowledge(self) -> None:
        if item := self._need():
            self.acknowledge(item)

    @work(group="inbox-ack", exit_on_error=False)
    async def acknowledge(self, item: InboxRow) -> None:
        assert self.aar.client is not None
        await self.aar.client.acknowledge(item.item_ids or [item.id], supervisor_name())
        more = f" (and {len(item.item_ids) - 1} more about it)" if len(item.item_ids) > 1 else ""
        self.notify(f"acknowledged: {one_line(item.summary, 80)}{more}", markup=False)
        self.load()
