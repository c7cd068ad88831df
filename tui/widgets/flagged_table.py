"""Rejected, failed and flagged submissions: what the evaluator refused or doubted, and why."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from aar.store import SubmissionRow
from tui.renderables import data
from tui.text import clip, one_line

REASON = 120
"""Characters of a rejection's reason shown in its cell."""


def flag_counts(rows: list[SubmissionRow]) -> dict[str, dict[str, int]]:
    """How many of each flag every agent's submissions carry."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        mine = counts.setdefault(row.agent, {})
        for flag in row.flags:
            mine[flag] = mine.get(flag, 0) + 1
    return counts


def counts_text(rows: list[SubmissionRow]) -> Text:
    """``agent-1: probe 2, over_budget 1 · agent-2: majority 1``, or a note that nothing is flagged."""
    counts = flag_counts(rows)
    parts = [
        f"{agent}: " + ", ".join(f"{flag} {n}" for flag, n in sorted(flags.items()))
        for agent, flags in sorted(counts.items())
        if flags
    ]
    return data("flags per agent · " + (" · ".join(parts) if parts else "none"))


class FlaggedTable(DataTable[Text]):
    """One row per rejected, failed or flagged submission, oldest first, its reason in words."""

    DEFAULT_CSS = """
    FlaggedTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.rows_shown: list[SubmissionRow] = []

    def on_mount(self) -> None:
        self.add_columns("sub", "agent", "status", "flags", "reason", "file")

    def show(self, rows: list[SubmissionRow]) -> None:
        if rows == self.rows_shown:
            return
        self.rows_shown = list(rows)
        self.clear()
        for row in rows:
            reason = one_line(row.error, REASON) if row.status in ("rejected", "failed") else ""
            self.add_row(
                Text(str(row.id)),
                data(row.agent),
                Text(row.status, style="bold red" if row.status == "rejected" else ""),
                Text(", ".join(row.flags), style="bold red"),
                data(reason),
                data(clip(row.label, 40) if row.label else "-"),
                key=str(row.id),
            )
