"""While you were away: the digest of what happened since the supervisor's last detach (``aar.digest``).

It opens by itself on attach after an absence longer than ``tui.digest_after_min``, and with ``w`` from
the main screen. Each line names its evidence (a submission ``#N``, an event, an inbox item) and links to it:
Enter on a submission opens its result, on a monitor action or an error the agent's transcript at that
step, on a waiting item the inbox; on a summary line, and with ``I`` anywhere, the digest closes and the
inbox opens, where the waiting items are.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aar.digest import Digest, DigestLine, digest_lines
from tui.screens.base import RunScreen
from tui.widgets.key_bar import KeyBar


class DigestScreen(RunScreen):
    CSS_PATH = "digest.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,w", "app.pop_screen", "Back", tooltip="Back to the agents", id="digest.back"),
        Binding("I", "to_inbox", "Inbox", tooltip="Close the digest and open the inbox", id="digest.inbox"),
    ]

    def __init__(self, digest: Digest) -> None:
        super().__init__()
        self.digest = digest
        self.lines: list[DigestLine] = []

    def compose(self) -> ComposeResult:
        yield Static(id="digest-title")
        yield OptionList(id="digest")
        yield KeyBar()

    def on_mount(self) -> None:
        title, *self.lines = digest_lines(self.digest)
        self.query_one("#digest-title", Static).update(Text(f"while you were away · {title.text}", style="bold"))
        options = self.query_one("#digest", OptionList)
        for i, line in enumerate(self.lines):  # escaped already (agent text through aar.escape); never markup
            style = "" if line.text.startswith("  ") else "bold"
            mark = "→ " if line.evidence is not None else "  "
            options.add_option(Option(Text(mark + line.text, style=style), id=str(i)))
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#digest")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        line = self.lines[int(event.option.id or 0)]
        if line.evidence is None or line.evidence.inbox_id is not None:
            # The app's worker, not this screen's: closing the screen would cancel its own.
            self.app.run_worker(self.action_to_inbox(), group="digest-inbox", exclusive=True)
        else:
            self.open_evidence(line)

    @work(group="digest-open", exclusive=True, exit_on_error=False)
    async def open_evidence(self, line: DigestLine) -> None:
        """The submission's result, or the agent's transcript at the step of the event."""
        from tui.screens import inbox_jumps
        from tui.screens.inspect_step import InspectAtStep

        evidence = line.evidence
        assert evidence is not None
        if evidence.submission_id is not None:
            await inbox_jumps.to_submission(self.aar, evidence.submission_id)
            return
        view = self.aar.model.agents.get(line.agent) if line.agent is not None else None
        if view is None or evidence.event_id is None:
            self.notify(
                f"event {evidence.event_id} is the run's own: `aar attach --at event:N` replays it", markup=False
            )
            return
        step = await self.aar.client.step_at(view.name, evidence.event_id)
        await self.app.push_screen(InspectAtStep(view, step or 0))

    async def action_to_inbox(self) -> None:
        from tui.screens.inbox import InboxScreen

        await self.app.pop_screen()
        await self.app.push_screen(InboxScreen())
