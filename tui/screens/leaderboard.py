"""The leaderboard: every scored submission, PGR with its confidence interval, flags in words;
below it every rejected, failed or flagged submission with its reason, and each agent's flag counts."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tui.model import Changes, RunModel
from tui.screens.base import RunScreen
from tui.widgets.flagged_table import FlaggedTable, counts_text
from tui.widgets.key_bar import KeyBar
from tui.widgets.leaderboard_table import LeaderboardTable

NOTE = (
    "PGR = (acc_transfer - acc_weak) / (acc_ceiling - acc_weak), computed by the evaluator on the feedback split"
    " (methods: over seeds), never reported by an agent. Flags: probe, duplicate, majority, over_budget,"
    " rate_limited, malformed, ignores_labels, seed_invariant, beyond_weak, review, unisolated; copy of #N"
    " (a near copy of another agent's file) is a relation, not a flag against the later submitter; so is"
    " 'method behind #N' beside a submission (the method made its author's earlier file #N). Rows marked ref are"
    " the evaluator's own baselines: vanilla transfer, and an unsupervised one that uses the weak labels only to"
    " name clusters; a submission below it does no better than not using the weak labels."
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
        yield Static(id="board-flag-counts")
        yield FlaggedTable(id="board-flagged")
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
        rejected = sum(1 for s in self.model.flagged if s.status == "rejected")
        title = (
            f"leaderboard · {len(rows)} scored"
            + (f" · {flagged} flagged" if flagged else "")
            + (f" · {rejected} rejected" if rejected else "")
            + (" · UNISOLATED: every score was made without sandbox isolation" if self.model.unisolated else "")
        )
        self.query_one("#board-title", Static).update(title)
        self.query_one(LeaderboardTable).show(rows, self.model.references)
        self.query_one("#board-flag-counts", Static).update(counts_text(self.model.flagged))
        self.query_one(FlaggedTable).show(self.model.flagged)
