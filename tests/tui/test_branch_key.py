"""``B`` branches an agent from the control room, through Pilot on the real app and a real run store: on the main
screen at the agent's step (in a replay, its step at the moment shown: a branch acts on the present, so it is
the one command a replay sends), and on the inspect screen at the step at the top of the transcript. The dialog
keeps a budget it cannot read, with one line saying why; escape sends nothing. ``v`` on the inspect screen shows
the workspace as a snapshot had it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Input, Label, OptionList, RichLog, TextArea

from aar import snapshots
from aar.commands import Branch
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.helpers import pending, wait_for, wait_screen
from tui.app import AarApp
from tui.screens.branch_dialog import BranchScreen
from tui.screens.inspect import InspectScreen


def _step_event(db: Path, agent: str) -> int:
    with sqlite3.connect(db) as conn:
        (row,) = conn.execute("SELECT id FROM events WHERE kind = 'agent.step' AND agent = ?", (agent,)).fetchall()
    return int(row[0])


async def _fill(app: AarApp, guidance: str, budget: str) -> BranchScreen:
    dialog = app.screen
    assert isinstance(dialog, BranchScreen)
    dialog.query_one(TextArea).text = guidance
    dialog.query_one("#branch-budget", Input).value = budget
    return dialog


async def test_B_in_a_replay_branches_the_focused_agent_at_its_step_then(run: RunPaths) -> None:
    app = AarApp(run.root, at_event=_step_event(run.db, "agent-3"))
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.model.replay is not None and "agent-3" in app.model.agents)
        await pilot.press("3", "B")
        await wait_for(pilot, lambda: isinstance(app.screen, BranchScreen))
        assert app.screen.query_one("#branch-step", Input).value == "3"

        dialog = await _fill(app, "try filtering at 0.7", "$2, lots")
        await pilot.press("ctrl+s")
        problem = dialog.query_one("#branch-problem", Label)
        await wait_for(pilot, lambda: "cannot read 'lots'" in str(problem.render()))
        assert app.screen is dialog and await pending(run.db) == []

        dialog.query_one("#branch-budget", Input).value = "$2, 50k"
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "branch → agent-3")
        (row,) = await pending(run.db)
        assert row.target == "agent-3" and row.command == Branch(
            step=3, guidance="try filtering at 0.7", dollars=2.0, tokens=50_000
        )
        assert app.model.replay is not None, "the screen still shows the moment"


async def test_B_on_the_inspect_screen_branches_at_the_step_shown_and_escape_sends_nothing(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: "agent-2" in app.model.agents)
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen) and app.screen.transcript_loaded)
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, BranchScreen))
        assert app.screen.query_one("#branch-step", Input).value == "2"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        assert await pending(run.db) == []

        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, BranchScreen))
        await _fill(app, "ask before deleting anything", "")
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "branch → agent-2")
        (row,) = await pending(run.db)
        assert row.target == "agent-2" and row.command == Branch(step=2, guidance="ask before deleting anything")


async def test_v_shows_the_workspace_as_a_snapshot_had_it_then_as_it_is(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as store:
        taken = await snapshots.take(store, run.root, "agent-1", 1, run.workspace("agent-1"), reason="submission")
    (run.workspace("agent-1") / "method.py").write_text("def run(ctx):\n    return 'rewritten since'\n")
    (run.workspace("agent-1") / "new.txt").write_text("written after the snapshot\n")
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: "agent-1" in app.model.agents)
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen) and "new.txt" in _listed(app))
        screen = app.screen
        assert isinstance(screen, InspectScreen)

        await pilot.press("v")
        await wait_for(pilot, lambda: screen.snapshot is not None and "new.txt" not in _listed(app))
        assert screen.query_one("#workspace").border_title == (
            f"workspace · snapshot #{taken.id} after step 1 (submission) · v older"
        )
        screen.show_file("method.py")
        await wait_for(pilot, lambda: "return 1" in _file_view(app))
        assert "rewritten since" not in _file_view(app)

        await pilot.press("v")  # past the oldest: the workspace as it is now
        await wait_for(pilot, lambda: screen.snapshot is None and "new.txt" in _listed(app))
        screen.show_file("method.py")
        await wait_for(pilot, lambda: "rewritten since" in _file_view(app))


def _listed(app: AarApp) -> str:
    return " ".join(str(o.prompt) for o in app.screen.query_one("#file-list", OptionList).options)


def _file_view(app: AarApp) -> str:
    return "\n".join(strip.text for strip in app.screen.query_one("#file-view", RichLog).lines)
