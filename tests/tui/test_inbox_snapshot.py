"""A snapshot of the inbox screen at 80x24: the synthetic run's items (an approval waiting, a flagged
submission) and a contradicted post (a monitor's flag and two claim checks: one row, ``(+2)``) ranked,
with what, which agent and when, and the post's row chosen: its three reasons under the list.
``pytest tests/tui --snapshot-update`` after a deliberate change."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

from aar.inbox import catch_up
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support.demo_events import emit_contradicted_post
from tests.tui.helpers import wait_for
from tests.tui.synthetic import _pin_timestamps
from tui.app import AarApp
from tui.screens.inbox import InboxScreen


async def _fold(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as store:
        emit_contradicted_post(store, post_id=2)
        await store.flush()
    _pin_timestamps(run.db)
    async with await RunStore.open(run.db) as store:
        await catch_up(store)


async def _inbox_open(pilot: Pilot[object]) -> None:
    app: AarApp = pilot.app  # type: ignore[assignment]
    await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2 and bool(app.model.inbox_open))
    await pilot.press("I")
    await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and bool(app.screen.items))
    screen = app.screen
    assert isinstance(screen, InboxScreen)
    await pilot.press(*["down"] * next(n for n, item in enumerate(screen.items) if len(item.reasons) > 1))
    await wait_for(pilot, lambda: screen.query_one("#inbox-reasons").display)
    await pilot.pause(0.2)


def test_inbox_screen(snap_compare, run_sync: RunPaths) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_fold(run_sync))
    assert snap_compare(AarApp(run_sync.root), terminal_size=(80, 24), run_before=_inbox_open)
