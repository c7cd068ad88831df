"""Small modal dialogs: a line of text (redirect, broadcast, deny reason, reply) and a yes/no."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, TextArea


class PromptScreen(ModalScreen[str | None]):
    """Asks for one line; Enter sends it (``""`` when left empty), Escape cancels (returns None)."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, *, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self.prompt_title = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt_title, id="dialog-title", markup=False)
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label("enter send · escape cancel", classes="dialog-help")

    @on(Input.Submitted, "#prompt-input")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ComposeScreen(ModalScreen[str | None]):
    """Asks for several lines (a forum post); ctrl+s sends, Escape cancels."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True, id="dialog.send"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.prompt_title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-tall"):
            yield Label(self.prompt_title, id="dialog-title", markup=False)
            yield TextArea(id="compose-text", soft_wrap=True, show_line_numbers=False)
            yield Label("ctrl+s send · escape cancel · the first line is the title", classes="dialog-help")

    def action_send(self) -> None:
        self.dismiss(self.query_one(TextArea).text.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Asks before something that cannot be undone; y confirms, n or Escape does not."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="dialog.yes"),
        Binding("n,escape", "answer(False)", "No", id="dialog.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="dialog-title", markup=False)
            yield Label("y yes · n no", classes="dialog-help")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
