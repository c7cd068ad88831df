"""Snapshots of the timeline at 80x24 (nine lanes folded to a row each) and 160x48 (three rows a lane: work,
alerts, control), the cursor on the first submission. The run's times are pinned and shown in UTC.
``pytest tests/tui --snapshot-update`` after a deliberate change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from aar.runtime import RunPaths
from tests.tui.helpers import SnapCompare, wait_for
from tests.tui.timeline_seed import timeline_run
from tui.app import AarApp
from tui.screens.timeline import TimelineScreen
from tui.widgets.timeline_lanes import TimelineLanes

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wall times drawn in UTC whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def trun_sync(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths], utc: None) -> RunPaths:
    return daemon_locks(asyncio.run(timeline_run(tmp_path / "run")))


async def _first_submission(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, AarApp)
    await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2)
    await pilot.press("T")
    await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
    lanes = app.screen.query_one(TimelineLanes)
    await pilot.press("k", "n")
    await wait_for(pilot, lambda: lanes.cursor is not None and lanes.cursor.kind == "submission")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES)
def test_timeline(snap_compare: SnapCompare, trun_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(trun_sync.root), terminal_size=size, run_before=_first_submission)
