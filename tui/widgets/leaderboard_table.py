"""The leaderboard as a table: PGR with its interval and the evaluator's flags, best first."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from aar.store import LeaderboardRow
from tui.renderables import data
from tui.text import clip, pgr

COMPACT_LABEL = 20
"""Characters of a submission's file name in the main screen's panel (the full screen shows its whole path)."""
FULL_LABEL = 40


def label_text(label: str, *, compact: bool) -> Text:
    """What was submitted: its file (just the name, clipped, in the panel); ``-`` when unknown."""
    if not label:
        return Text("-", style="dim")
    return data(clip(label.rsplit("/", 1)[-1], COMPACT_LABEL) if compact else clip(label, FULL_LABEL))


class LeaderboardTable(DataTable[Text]):
    """Every scored submission; flagged rows say so in words, not only in colour."""

    DEFAULT_CSS = """
    LeaderboardTable {
        height: 1fr;
    }
    LeaderboardTable.-compact {
        overflow-x: hidden;
    }
    """

    def __init__(self, *, id: str | None = None, compact: bool = False) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=not compact)
        self.compact = compact
        self.set_class(compact, "-compact")  # a panel: what does not fit is cut, without a scrollbar
        self.can_focus = not compact  # on the main screen it is a panel; keys belong to the agents
        self.rows_shown: list[LeaderboardRow] = []

    def on_mount(self) -> None:
        # Score and flags come first: a narrow terminal cuts (or scrolls) the columns to their right.
        columns = ["#", "agent", "PGR [95% CI]", "flags", "file"]
        self.add_columns(*(columns if self.compact else [*columns, "sub", "kind", "split"]))

    def show(self, rows: list[LeaderboardRow]) -> None:
        if rows == self.rows_shown:
            return
        self.rows_shown = list(rows)
        self.clear()
        for rank, row in enumerate(rows, 1):
            flags = Text(", ".join(row.flags), style="bold red") if row.flags else Text("")
            score = Text(pgr(row.pgr, row.ci_low, row.ci_high), style="bold" if rank == 1 else "")
            cells = [Text(str(rank)), data(row.agent), score, flags, label_text(row.label, compact=self.compact)]
            if not self.compact:
                sub = " · ".join([str(row.submission_id), *row.links])  # "7 · method behind #3"
                cells += [Text(sub), Text(row.kind), Text(row.split)]
            self.add_row(*cells, key=str(row.result_id))
