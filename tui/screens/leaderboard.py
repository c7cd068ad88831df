"""The leaderboard: every scored submission, PGR with its confidence interval, flags in words."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tui.model import Changes, RunModel
from tui.screens.base import RunScreen
from tui.widgets.key_bar import KeyBar
from tui.widgets.leaderboard_table import LeaderboardTable

NOTE = (
    "PGR = (acc_transfer - acc_weak) / (acc_ceiling - acc_weak), computed by the evaluator on the feedback split"
    " (methods: over seeds), never reported by an agent. Flags: probe, majority, over_budget, malformed."
)


class LeaderboardScreen(RunScreen):
    CSS_PATH = "leaderboard.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "app.pop_screen", "Back", tooltip="Back to the agents", id="board.back")
    ]

    def __init__(self, model: RunModel) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        yield Static(id="board-title")
        yield LeaderboardTable(id="board")
        yield Static(NOTE, id="board-note", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self._show()
        self.query_one(LeaderboardTable).focus()

    def refresh_views(self, changes: Changes) -> None:
        if changes.board:
            self._show()

    def _show(self) -> None:
        rows = self.model.leaderboard
        flagged = sum(1 for r in rows if r.flags)
        title = f"leaderboard · {len(rows)} scored" + (f" · {flagged} flagged" if flagged else "")
        self.query_one("#board-title", Static).update(title)
        self.query_one(LeaderboardTable).show(rows)
