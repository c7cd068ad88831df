"""The inspect screen opened at a step: the review desk's lineage leads here.

The whole transcript is loaded as on the inspect screen; once its lines are on the log, the view scrolls to
the first message of the step (its ``── step N ·`` header) and stays there while newer messages arrive.
"""

from __future__ import annotations

from textual.widgets import RichLog

from aar.store import MessageRow
from tui.model import AgentView
from tui.screens.inspect import STEP_HEADER, InspectScreen, step_of

RETRY_S = 0.05


class InspectAtStep(InspectScreen):
    """One agent up close, its transcript scrolled to ``step``."""

    def __init__(self, view: AgentView, step: int) -> None:
        super().__init__(view)
        self.step = step
        self.scrolled_to: int | None = None
        """The transcript line shown at the top, once scrolled there."""

    def on_mount(self) -> None:
        self.query_one("#transcript", RichLog).auto_scroll = False  # newer messages must not scroll away from it

    async def _show_messages(self, messages: list[MessageRow]) -> None:
        await super()._show_messages(messages)
        if self.scrolled_to is None and messages:
            self.call_after_refresh(self._scroll_to_step)

    def _scroll_to_step(self) -> None:
        """The first header of ``step`` or later; the log lays its lines out once it knows its width."""
        log = self.query_one("#transcript", RichLog)
        if not log.lines:
            self.set_timer(RETRY_S, self._scroll_to_step)
            return
        for y, strip in enumerate(log.lines):
            text = strip.text
            if text.startswith(STEP_HEADER) and step_of(text) >= self.step:
                self.scrolled_to = y
                break
        else:
            self.scrolled_to = max(0, len(log.lines) - 1)
        log.border_title = f"transcript · at step {self.step}"
        log.scroll_to(y=self.scrolled_to, animate=False, immediate=True)
