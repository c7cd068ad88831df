"""Past-tense messages the app posts to itself from its workers."""

from __future__ import annotations

from textual.message import Message

from tui.model import ReplayMark, RunUpdate
from tui.service import RunClient


class RunConnected(Message):
    """The store is open and the backlog is read."""

    def __init__(self, client: RunClient, update: RunUpdate) -> None:
        super().__init__()
        self.client = client
        self.update = update


class RunUpdated(Message):
    """A poll read a batch from the store (every batch matters: none replaces another)."""

    def __init__(self, update: RunUpdate) -> None:
        super().__init__()
        self.update = update


class PollFailed(Message):
    """A poll could not read the store; the app retries."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


class CommandSent(Message):
    """A supervisor command reached the store's commands table."""

    def __init__(self, command_id: int, kind: str, target: str) -> None:
        super().__init__()
        self.command_id = command_id
        self.kind = kind
        self.target = target


class ReplayRequested(Message):
    """Show the run as it was at this event (from the timeline, or ``aar attach --at``)."""

    def __init__(self, event_id: int) -> None:
        super().__init__()
        self.event_id = event_id


class MomentLoaded(Message):
    """The state of a past moment is read, to replace what the screens show; ``mark`` None: the live run."""

    def __init__(self, update: RunUpdate, mark: ReplayMark | None) -> None:
        super().__init__()
        self.update = update
        self.mark = mark
