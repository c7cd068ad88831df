"""Snapshots of the review desk at 80x24 and 160x48: the best method chosen (its scores per seed and on a
transfer target, flags, canary, monitors, the posts that claim it, its source with a hostile first line,
its lineage), then its diff against the agent's method before. ``pytest tests/tui --snapshot-update``
after a deliberate change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from aar.runtime import RunPaths
from tests.tui.helpers import BeforeShot, SnapCompare, wait_for
from tests.tui.review_seed import review_desk_run
from tui.app import AarApp
from tui.screens.review import ReviewScreen
from tui.widgets.code_view import CodeView

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


@pytest.fixture
def desk_run_sync(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(asyncio.run(review_desk_run(tmp_path / "run")))


def _desk(*keys: str, kind: str = "source") -> BeforeShot:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, AarApp)
        await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.detail is not None)
        await pilot.press(*keys)
        await wait_for(pilot, lambda: app.screen.query_one(CodeView).kind == kind)
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_review_desk(snap_compare: SnapCompare, desk_run_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(desk_run_sync.root), terminal_size=size, run_before=_desk())


@pytest.mark.parametrize("size", SIZES)
def test_review_desk_diff(snap_compare: SnapCompare, desk_run_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(desk_run_sync.root), terminal_size=size, run_before=_desk("d", kind="diff"))
