"""Replay in the control room, through Pilot on the real app and a real run store: the screen shows the run
as it was at a moment, with REPLAY and the moment in the status bar; keys step through time; every write is
refused (no command row, no post); ``L`` goes back to the live run. ``aar attach --at`` refuses a moment the
run does not have, in one line, before any screen opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support import aar_cli
from tests.tui.helpers import pending, screen_text, wait_for, wait_screen
from tui.app import AarApp
from tui.service import ReplayRefused

NARROW = (80, 24)


def _moments(db: Path) -> dict[str, int]:
    """Event ids of the synthetic run's landmarks; each result's time is pinned to its ``eval.result`` event's,
    as a real evaluator writes them together."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE eval_results SET ts = (SELECT e.ts FROM events e WHERE e.kind = 'eval.result'"
            " AND json_extract(e.payload, '$.job_id') = eval_results.job_id)"
        )
        steps = [r[0] for r in conn.execute("SELECT id FROM events WHERE kind = 'agent.step' ORDER BY id")]
        scored = [r[0] for r in conn.execute("SELECT id FROM events WHERE kind = 'eval.result' ORDER BY id")]
    return {"first_step": steps[0], "first_scored": scored[0], "last_scored": scored[-1]}


async def test_replay_shows_the_moment_refuses_writes_and_goes_back_to_live(run: RunPaths) -> None:
    moments = _moments(run.db)
    app = AarApp(run.root, at_event=moments["first_step"])
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_screen(pilot, f"REPLAY 01-01 00:00:{moments['first_step']:02d}"[:17])
        await wait_for(pilot, lambda: app.model.replay is not None and "agent-1" in app.model.agents)
        assert app.model.replay is not None and app.model.replay.event_id == moments["first_step"]
        rows = {name: view.row for name, view in app.model.agents.items()}
        assert rows["agent-1"].cost_usd == pytest.approx(0.05)  # one step of agent-1 then, not its total now
        assert (rows["agent-3"].status, rows["agent-3"].cost_usd) == ("idle", 0.0)  # not started then
        assert app.model.leaderboard == []  # nothing was scored yet
        assert "#" + str(moments["first_step"]) in screen_text(app)

        await pilot.press("3", "p")  # pause agent-3: refused, the past cannot be commanded
        await wait_screen(pilot, "this is a replay")
        assert await pending(run.db) == []
        with pytest.raises(ReplayRefused):
            await app.client.post("from the past", "must not reach the forum")

        await pilot.press("full_stop")  # one event on
        await wait_for(
            pilot, lambda: app.model.replay is not None and app.model.replay.event_id > moments["first_step"]
        )
        assert app.model.replay is not None and app.model.replay.event_id == moments["first_step"] + 1

        await pilot.press("right_curly_bracket")  # this run's submissions were filed without their events
        await wait_screen(pilot, "no submission after")
        assert app.model.replay is not None and app.model.replay.event_id == moments["first_step"] + 1

        await pilot.press("L")
        await wait_for(pilot, lambda: app.model.replay is None and len(app.model.leaderboard) == 3)
        assert "REPLAY" not in screen_text(app)
        assert app.model.agents["agent-3"].row.cost_usd == pytest.approx(0.15)
    async with await RunStore.open(run.db) as store:
        assert await store.post_count() == 4  # the synthetic run's own posts; the replay added none


async def test_a_moment_after_a_score_shows_the_leaderboard_of_then(run: RunPaths) -> None:
    moments = _moments(run.db)
    app = AarApp(run.root, at_event=moments["first_scored"])
    async with app.run_test(size=NARROW) as pilot:
        await wait_for(pilot, lambda: app.model.replay is not None and bool(app.model.leaderboard))
        assert [row.pgr for row in app.model.leaderboard] == [0.41]


@pytest.mark.parametrize(
    ("at", "says"),
    [
        ("yesterday", "3h"),  # malformed: the line names the forms it takes
        ("event:999999", "999999"),
        ("2020-01-01T00:00", "before"),
    ],
)
def test_attach_at_a_moment_the_run_does_not_have_is_one_line(run_sync: RunPaths, at: str, says: str) -> None:
    done = aar_cli("attach", str(run_sync.root), "--at", at, cwd=run_sync.root.parent, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
