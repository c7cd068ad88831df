"""Forum moderation from the keyboard: the key writes the command, the daemon's own poller applies it,
and the screen shows the post struck through with the reason; checked claims show beside their post."""

from __future__ import annotations

import asyncio

import pytest
from textual.pilot import Pilot

from aar.events import ClaimChecked
from aar.runtime import RunPaths
from aar.store import CommandRow, PostClaim, RunStore
from agents.control import CommandPoller
from tests.tui.daemon import Daemon
from tests.tui.helpers import screen_text, wait_for, wait_screen
from tui.app import AarApp
from tui.screens.forum import ForumScreen

WIDE = (160, 48)


@pytest.mark.slow
async def test_quarantine_restore_and_pin_from_the_forum_screen(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForumScreen))
        await pilot.press("up", "up")  # from the newest post (#4) to #2
        await wait_screen(pilot, "aux_weight 0.5 gave PGR")
        await pilot.press("x")
        await wait_screen(pilot, "Quarantine #2: why?")
        await pilot.press(*"quotes a made-up number", "enter")
        command = await daemon.apply()
        assert (command.kind, command.target, command.payload) == (
            "quarantine",
            "@run",
            {"post_id": 2, "reason": "quotes a made-up number", "by": "supervisor"},
        )
        text = await wait_screen(pilot, "withheld from the agents: quotes a made-up number", timeout=15)
        assert "[withheld]" in text
        post = await daemon.store.post(2)
        assert post is not None and post.quarantined and post.body, "the store keeps it"

        await pilot.press("P")
        pin = await daemon.apply()
        assert (pin.kind, pin.payload) == ("pin", {"post_id": 2, "pinned": True})
        await wait_screen(pilot, "#2 [pinned] agent-1 Confidence loss works [withheld]", timeout=15)
        await wait_screen(pilot, "  pinned: every agent reads it first", timeout=15)

        await pilot.press("u")
        restore = await daemon.apply()
        assert (restore.kind, restore.payload) == ("restore", {"post_id": 2})
        await wait_for(pilot, lambda: "[withheld]" not in screen_text(app), timeout=15)


async def test_checked_claims_show_beside_their_post(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForumScreen))
        await pilot.press("up", "up")
        await wait_screen(pilot, "aux_weight 0.5 gave PGR")
        async with await RunStore.open(run.db) as store:
            post = await store.post(2)
            assert post is not None
            claims = [
                PostClaim(metric="pgr", value=0.41, claim="PGR 0.41", verdict="verified", submission_id=1),
                PostClaim(metric="accuracy", value=0.99, claim="accuracy 0.99", verdict="contradicted"),
            ]
            await store.set_claims(2, claims)
            for c in claims:
                store.emit(post.author, ClaimChecked(post_id=2, **c.model_dump()))
            await store.flush()
        text = await wait_screen(pilot, f"✗ accuracy 0.99 matches no result the evaluator showed {post.author}")
        assert "✓ PGR 0.41 matches a result the evaluator showed" in text
        assert "✓1 ✗1" in text
