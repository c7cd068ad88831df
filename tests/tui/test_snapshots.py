"""Snapshots of the main, inspect and leaderboard screens at 80x24 and 160x48, and the main screen in a second theme.

The run is synthetic with pinned content, the screens show no clock and no
blinking cursor, so the SVGs are the same on every machine. Update them
after a deliberate change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from aar.runtime import RunPaths
from tests.tui.helpers import BeforeShot, SnapCompare, wait_for
from tui.app import AarApp
from tui.screens.inspect import InspectScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


async def _loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, AarApp)
    await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2)
    await pilot.pause(0.1)


def _then(*keys: str, ready: Callable[[AarApp], bool] = lambda app: True) -> BeforeShot:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press(*keys)
        app = pilot.app
        assert isinstance(app, AarApp)
        for _ in range(100):
            if ready(app):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)

    return run_before


def _inspect_ready(app: AarApp) -> bool:
    screen = app.screen
    return isinstance(screen, InspectScreen) and screen.transcript_loaded and bool(screen.files)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: SnapCompare, run_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(run_sync.root), terminal_size=size, run_before=_loaded)


def test_main_screen_nine_agents(snap_compare: SnapCompare, run_nine: RunPaths) -> None:
    assert snap_compare(AarApp(run_nine.root), terminal_size=(160, 48), run_before=_loaded)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_inspect_screen(snap_compare: SnapCompare, run_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(run_sync.root), terminal_size=size, run_before=_then("2", "enter", ready=_inspect_ready))


@pytest.mark.parametrize("size", SIZES)
def test_leaderboard_screen(snap_compare: SnapCompare, run_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(run_sync.root), terminal_size=size, run_before=_then("l"))


def test_main_screen_in_a_second_theme(snap_compare: SnapCompare, run_sync: RunPaths) -> None:
    """Switched to nord, agent output and statuses take nord's colours (see test_theme.py for the exact colours)."""

    async def in_nord(pilot: Pilot[Any]) -> None:
        pilot.app.theme = "nord"
        await _loaded(pilot)

    assert snap_compare(AarApp(run_sync.root), terminal_size=(160, 48), run_before=in_nord)
