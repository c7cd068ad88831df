"""The leaderboard as a table: PGR with its interval and the evaluator's flags, best first."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from aar.store import LeaderboardRow, ReferenceRow
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
        self.rows_shown: list[LeaderboardRow | ReferenceRow] = []
        """The rows in the order shown: submissions ranked by PGR, with the evaluator's baselines among them."""

    def on_mount(self) -> None:
        # Score and flags come first: a narrow terminal cuts (or scrolls) the columns to their right.
        columns = ["#", "agent", "PGR [95% CI]", "flags", "file"]
        self.add_columns(*(columns if self.compact else [*columns, "sub", "kind", "split"]))

    def show(self, rows: list[LeaderboardRow], references: list[ReferenceRow] | None = None) -> None:
        """Submissions best first; each baseline sits where its PGR falls, unranked, so a supervisor sees
        which submissions beat naive transfer and which do no better than not using the weak labels."""
        shown = merged(rows, references or [])
        if shown == self.rows_shown:
            return
        self.rows_shown = shown
        self.clear()
        rank = 0
        for row in shown:
            if isinstance(row, ReferenceRow):
                self._add_reference(row)
                continue
            rank += 1
            flags = Text(", ".join(row.flags), style="bold red") if row.flags else Text("")
            score = Text(pgr(row.pgr, row.ci_low, row.ci_high), style="bold" if rank == 1 else "")
            cells = [Text(str(rank)), data(row.agent), score, flags, label_text(row.label, compact=self.compact)]
            if not self.compact:
                sub = " · ".join([str(row.submission_id), *row.links])  # "7 · method behind #3"
                cells += [Text(sub), Text(row.kind), Text(row.split)]
            self.add_row(*cells, key=str(row.result_id))

    def _add_reference(self, row: ReferenceRow) -> None:
        style = "dim italic"
        label = row.baseline if self.compact else row.label
        cells = [
            Text("ref", style=style),
            Text("evaluator", style=style),
            Text(pgr(row.pgr, row.ci_low, row.ci_high), style=style),
            Text(""),
            Text(clip(label, COMPACT_LABEL if self.compact else FULL_LABEL), style=style),
        ]
        if not self.compact:
            cells += [Text("-", style=style), Text("baseline", style=style), Text(row.split, style=style)]
        self.add_row(*cells, key=f"ref-{row.result_id}")


def merged(rows: list[LeaderboardRow], references: list[ReferenceRow]) -> list[LeaderboardRow | ReferenceRow]:
    """Submissions in their order, each baseline placed before the first submission it beats (last if none)."""
    out: list[LeaderboardRow | ReferenceRow] = list(rows)
    for ref in sorted(references, key=lambda r: -(r.pgr if r.pgr is not None else float("-inf"))):
        if ref.pgr is None:
            out.append(ref)
            continue
        at = next(
            (i for i, r in enumerate(out) if not isinstance(r, ReferenceRow) and (r.pgr is None or r.pgr < ref.pgr)),
            len(out),
        )
        out.insert(at, ref)
    return out
