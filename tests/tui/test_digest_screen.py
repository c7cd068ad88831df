"""The digest in the control room: it opens by itself on attach after a long absence (and not after a short
one), lists what happened since the last detach, and Enter lands on the inbox; ``w`` opens it at will. Each
evidence line opens what it names: an error the agent's transcript at its step, a submission its row."""

from __future__ import annotations

import time

from textual.widgets import OptionList

from aar.events import ErrorRaised
from aar.runtime import RunPaths
from aar.store import RunStore
from aar.store.inbox_table import SEEN_META
from tests.tui.helpers import screen_text, wait_for, wait_screen
from tui.app import AarApp
from tui.screens.digest import DigestScreen
from tui.screens.inbox import InboxScreen
from tui.screens.inspect_step import InspectAtStep
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.main import MainScreen

SIZE = (120, 40)


async def _left(run: RunPaths, seconds_ago: float) -> None:
    async with await RunStore.open(run.db) as store:
        await store.set_meta(SEEN_META, f"{time.time() - seconds_ago:.3f}")


async def test_after_a_long_absence_the_digest_opens_first_and_enter_lands_on_the_inbox(run: RunPaths) -> None:
    await _left(run, 2 * 3600)
    app = AarApp(run.root)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DigestScreen), timeout=10)
        text = await wait_screen(pilot, "while you were away")
        assert "(2.0h)" in text and "team: " in text and "submissions" in text, text
        assert "agent-1: " in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen))


async def test_after_a_short_absence_the_main_screen_comes_first_and_w_opens_the_digest(run: RunPaths) -> None:
    await _left(run, 60)
    app = AarApp(run.root)
    async with app.run_test(size=SIZE) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.pause(0.5)
        assert isinstance(app.screen, MainScreen), "a minute away: no digest"
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, DigestScreen))
        assert "(0.0h)" in await wait_screen(pilot, "while you were away")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert "while you were away" not in screen_text(app)


async def test_each_evidence_line_opens_what_it_names(run: RunPaths) -> None:
    await _left(run, 2 * 3600)
    async with await RunStore.open(run.db) as store:
        store.emit("agent-3", ErrorRaised(message="sandbox died mid-step", where="agent"))
        sub = await store.add_submission("agent-1", "predictions", {"predictions": [0, 1]}, label="late.json")
        await store.flush()
    app = AarApp(run.root)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DigestScreen) and bool(app.screen.lines), timeout=10)
        digest = app.screen
        assert isinstance(digest, DigestScreen)
        options = digest.query_one("#digest", OptionList)
        texts = [line.text for line in digest.lines]
        error = next(i for i, t in enumerate(texts) if "sandbox died mid-step" in t)
        assert digest.lines[error].agent == "agent-3" and str(options.get_option_at_index(error).prompt).startswith("→")

        options.highlighted = error
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectAtStep))
        assert isinstance(app.screen, InspectAtStep) and (app.screen.view.name, app.screen.step) == ("agent-3", 3)

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is digest)
        options.highlighted = next(i for i, t in enumerate(texts) if f"#{sub} predictions" in t)
        await pilot.press("enter")
        await wait_screen(pilot, f"submission #{sub} has no score on the leaderboard yet")
        assert isinstance(app.screen, LeaderboardScreen)
