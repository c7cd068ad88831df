"""The leaderboard shows a submission's links beside its id, apart from its flags."""

from __future__ import annotations

from textual.app import App, ComposeResult

from aar.store import LeaderboardRow
from tui.widgets.leaderboard_table import LeaderboardTable


class _Board(App[None]):
    def compose(self) -> ComposeResult:
        yield LeaderboardTable(id="board")


def _row(result_id: int, submission_id: int, *, flags: list[str], links: list[str]) -> LeaderboardRow:
    return LeaderboardRow(
        result_id=result_id,
        agent="agent-1",
        submission_id=submission_id,
        kind="method",
        label="m.py",
        pgr=0.4,
        ci_low=0.3,
        ci_high=0.5,
        flags=flags,
        split="seeds",
        ts=0.0,
        links=links,
    )


async def test_links_sit_beside_the_submission_not_among_the_flags() -> None:
    app = _Board()
    async with app.run_test(size=(160, 10)) as pilot:
        table = app.query_one(LeaderboardTable)
        table.show([_row(1, 7, flags=[], links=["method behind #3"]), _row(2, 8, flags=["probe"], links=[])])
        await pilot.pause()
        first, second = (table.get_row_at(i) for i in range(2))
        assert (str(first[3]), str(first[5])) == ("", "7 · method behind #3")
        assert (str(second[3]), str(second[5])) == ("probe", "8")
