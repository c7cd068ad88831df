"""The leaderboard: every scored submission, PGR with its confidence interval, flags in words;
below it every rejected, failed or flagged submission with its reason, and each agent's flag counts."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from aar.commands import RUN_TARGET, TransferMethod
from aar.store import LeaderboardRow
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
    " name clusters; a submission below it does no better than not using the weak labels. t re-runs the chosen"
    " method on the run's transfer targets."
)


class LeaderboardScreen(RunScreen):
    CSS_PATH = "leaderboard.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "app.pop_screen", "Back", tooltip="Back to the agents", id="board.back"),
        Binding(
            "t",
            "transfer",
            "Transfer",
            tooltip="Re-run the chosen method on every transfer target ([[transfer.targets]])",
            id="board.transfer",
        ),
        Binding(
            "R",
            "review",
            "Review",
            tooltip="The review desk, at the chosen submission: source, lineage, scores and a verdict",
            id="board.review",
        ),
        Binding(
            "a",
            "toggle_accepted",
            "Accepted",
            tooltip="Only the submissions the supervisor accepted on the review desk, or every score",
            id="board.accepted",
        ),
    ]

    def __init__(self, model: RunModel) -> None:
        super().__init__()
        self.model = model
        self.accepted: set[int] | None = None
        """The accepted submissions when only those are shown (``a``); None shows every score."""

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
            if self.accepted is not None:
                self.load_accepted()

    def on_screen_resume(self) -> None:
        """Back from the review desk: a verdict given there changes what is accepted."""
        if self.accepted is not None:
            self.load_accepted()

    def action_toggle_accepted(self) -> None:
        if self.accepted is None:
            self.load_accepted()
        else:
            self.accepted = None
            self._show()

    @work(group="board-accepted", exclusive=True, exit_on_error=False)
    async def load_accepted(self) -> None:
        verdicts = await self.aar.client.verdicts()
        self.accepted = {sid for sid, v in verdicts.items() if v.verdict == "accept"}
        self._show()

    def action_transfer(self) -> None:
        """The chosen method to every transfer target: a command the daemon applies (its effect, or why not,
        comes back as every command's does)."""
        table = self.query_one(LeaderboardTable)
        shown = table.rows_shown
        row = shown[table.cursor_row] if 0 <= table.cursor_row < len(shown) else None
        if not isinstance(row, LeaderboardRow) or row.kind != "method":
            self.notify("choose a method: only a verified method is re-run on the transfer targets", markup=False)
            return
        self.aar.send_command(TransferMethod(submission_id=row.submission_id), RUN_TARGET)

    @work(group="review-open", exclusive=True, exit_on_error=False)
    async def action_review(self) -> None:
        """The review desk, at the chosen row's submission where it is a candidate."""
        from tui.screens.review import open_desk

        table = self.query_one(LeaderboardTable)
        shown = table.rows_shown
        row = shown[table.cursor_row] if 0 <= table.cursor_row < len(shown) else None
        await open_desk(self.aar, row.submission_id if isinstance(row, LeaderboardRow) else None)

    def _show(self) -> None:
        rows = self.model.leaderboard
        if self.accepted is not None:
            rows = [r for r in rows if r.submission_id in self.accepted]
        flagged = sum(1 for r in rows if r.flags)
        rejected = sum(1 for s in self.model.flagged if s.status == "rejected")
        title = (
            f"leaderboard · {len(rows)} scored"
            + (f" · {flagged} flagged" if flagged else "")
            + (f" · {rejected} rejected" if rejected else "")
            + (" · UNISOLATED: every score was made without sandbox isolation" if self.model.unisolated else "")
            + (" · accepted only (a: every score)" if self.accepted is not None else "")
        )
        self.query_one("#board-title", Static).update(title)
        self.query_one(LeaderboardTable).show(rows, self.model.references)
        self.query_one("#board-flag-counts", Static).update(counts_text(self.model.flagged))
        self.query_one(FlaggedTable).show(self.model.flagged)
