"""The branch dialog: which step, the branch's own budget, and the guidance it reads first.

ctrl+s sends a ``branch`` command (the daemon makes the branch and says so, or why not); a step or a budget
that does not read stays in the dialog with one line saying what would.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, TextArea

from aar.budget_text import BadBudgetEntry, parse_budget_config
from aar.commands import Branch, InvalidCommand, parse_command
from tui.screens.base import aar_app


class BranchScreen(ModalScreen[Branch | None]):
    """Asks for a branch of ``agent``; dismissed with the command, or None when cancelled."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Branch", priority=True, id="dialog.send"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, agent: str, step: int) -> None:
        super().__init__()
        self.agent = agent
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-tall"):
            yield Label(
                f"Branch {self.agent}: a new agent from its transcript after a step", id="dialog-title", markup=False
            )
            with Horizontal(id="branch-fields"):
                yield Label("after step", classes="branch-label")
                yield Input(value=str(self.step), id="branch-step", type="integer")
                yield Label("budget", classes="branch-label")
                yield Input(placeholder="$2, 50k, 30m (empty: no limit)", id="branch-budget")
            yield TextArea(id="compose-text", soft_wrap=True, show_line_numbers=False)
            yield Label("", id="branch-problem", markup=False)
            yield Label(
                "above: the guidance it reads first · ctrl+s branch · escape cancel",
                classes="dialog-help",
            )

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_send(self) -> None:
        problem = self.query_one("#branch-problem", Label)
        try:
            budget = parse_budget_config(self.query_one("#branch-budget", Input).value)
            step = self.query_one("#branch-step", Input).value.strip()
            if not step.isdigit():
                raise InvalidCommand(f"the step must be a whole number from 0, not {step!r}")
            command = parse_command(
                "branch",
                {"step": int(step), "guidance": self.query_one(TextArea).text, **budget.model_dump()},
            )
        except (BadBudgetEntry, InvalidCommand) as exc:
            problem.update(str(exc))
            return
        assert isinstance(command, Branch)
        self.dismiss(command)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask_branch(screen: Screen[Any], agent: str, step: int) -> None:
    """Open the dialog over ``screen``; the command it gives is sent (``AarApp.send_command``)."""
    app = aar_app(screen)

    def chosen(command: Branch | None) -> None:
        if command is not None:
            app.send_command(command, agent)

    app.push_screen(BranchScreen(agent, step), chosen)
