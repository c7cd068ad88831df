"""The progress chart (``C``): its keys, what it draws with and without colour, an empty run, a live update,
the palette, and snapshots at 80x24 and 160x48. The run is ``tests.support.progress``: known times, costs,
points and lines. ``pytest tests/tui/test_chart.py --snapshot-update`` after a deliberate change."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot

from aar.events import EvalScored
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support.progress import HOSTILE_LABEL, progress_run
from tests.tui.helpers import BeforeShot, SnapCompare, screen_text, wait_for, wait_screen
from tui.app import AarApp
from tui.chart_layout import DASH, HEAVY, METHOD, NOT_COUNTED, PREDICTIONS
from tui.commands import NOUNS, palette_title
from tui.keymap import binding_ids
from tui.screens.chart import ChartScreen
from tui.screens.main import MainScreen
from tui.widgets.progress_chart import ProgressChart

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
NARROW = (80, 24)


@pytest.fixture
async def chart_run(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(await progress_run(tmp_path / "run"))


@pytest.fixture
def chart_run_sync(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(asyncio.run(progress_run(tmp_path / "run")))


async def _open_chart(pilot: Pilot[Any]) -> ChartScreen:
    app = pilot.app
    assert isinstance(app, AarApp)
    await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2)
    await pilot.press("C")
    await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen) and app.screen.loads >= 1)
    screen = app.screen
    assert isinstance(screen, ChartScreen)
    return screen


def _chart_rows(app: AarApp) -> list[str]:
    """The chart's rows as on screen (the widget's part of the terminal)."""
    chart = app.screen.query_one(ProgressChart)
    region = chart.content_region
    lines = screen_text(app).split("\n")
    return [line[region.x : region.right] for line in lines[region.y : region.bottom]]


async def test_c_opens_the_chart_x_switches_to_dollars_a_to_each_agent_and_escape_goes_back(
    chart_run: RunPaths,
) -> None:
    app = AarApp(chart_run.root)
    async with app.run_test(size=NARROW) as pilot:
        screen = await _open_chart(pilot)
        await wait_screen(pilot, "team · best verified PGR 0.550 (#7 agent-1) · 3.0 agent-hours · $7.50")
        rows = _chart_rows(app)
        assert any("agent-hours" in r for r in rows) and any(" 1h " in r or r.endswith("1h") for r in rows)
        assert any("best 0.55" in r for r in rows) and any("reference 0.23" in r for r in rows)
        assert any("vanilla 0.20" in r for r in rows) and any("weak 0.00" in r for r in rows)
        await pilot.press("a")
        text = await wait_screen(pilot, "each agent · best verified PGR 0.550")
        assert screen.chart.per_agent and "1 agent-1  2 agent-2" in text
        rows = _chart_rows(app)
        assert any(re.search(r"2─+2", r) for r in rows), "agent-2's own best, from its method to its end"
        assert not any(HEAVY["h"] in r for r in rows), "no team line in the per-agent view"
        await pilot.press("x")
        await wait_for(pilot, lambda: any("dollars" in r for r in _chart_rows(app)))
        assert screen.chart.axis == "usd" and not any("agent-hours" in r for r in _chart_rows(app))
        await pilot.press("a")
        await wait_screen(pilot, "team · best verified")
        rows = _chart_rows(app)
        assert any(HEAVY["h"] in r for r in rows) and any("$6" in r for r in rows)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_with_no_color_every_mark_keeps_its_own_glyph(
    chart_run: RunPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = AarApp(chart_run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _open_chart(pilot)
        await wait_screen(pilot, "best verified PGR 0.550")
        plot = "\n".join(_chart_rows(app)[:-3])  # the legend aside
        for glyph in (METHOD, PREDICTIONS, NOT_COUNTED, HEAVY["h"], HEAVY["v"], DASH):
            assert glyph in plot, glyph
        assert plot.count(NOT_COUNTED) == 2, "the probe and the rejected method"
        assert plot.count(PREDICTIONS) == 1
        svg = app.export_screenshot()
    fills = {tuple(int(c[i : i + 2], 16) for i in (0, 2, 4)) for c in re.findall(r"fill: #([0-9a-f]{6})", svg)}
    assert fills and all(max(rgb) - min(rgb) <= 8 for rgb in fills), sorted(fills)  # greys only


async def test_a_run_with_no_result_yet_says_so_on_the_chart(
    tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]
) -> None:
    run = daemon_locks(await progress_run(tmp_path / "run", scored=False))
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _open_chart(pilot)
        text = await wait_screen(pilot, "no scored submission yet")
        assert "team · no verified method counts yet · 3.0 agent-hours · $7.50" in text
        assert METHOD not in "\n".join(_chart_rows(app)[:-3])


async def test_a_new_score_moves_the_open_chart(chart_run: RunPaths) -> None:
    app = AarApp(chart_run.root)
    async with app.run_test(size=NARROW) as pilot:
        screen = await _open_chart(pilot)
        await wait_screen(pilot, "best verified PGR 0.550")
        async with await RunStore.open(chart_run.db) as daemon:
            sub = await daemon.add_submission("agent-2", "method", {}, label=HOSTILE_LABEL)
            job = await daemon.enqueue_job("method", {}, submission_id=sub, status="done")
            await daemon.add_result(job, submission_id=sub, split="seeds", pgr=0.7, ci_low=0.6, ci_high=0.8, metrics={})
            daemon.emit("agent-2", EvalScored(job_id=job, submission_id=sub, pgr=0.7, ci_low=0.6, ci_high=0.8))
            await daemon.flush()
        text = await wait_screen(pilot, "best verified PGR 0.700")
        assert f"(#{sub} agent-2)" in text and screen.loads >= 2


@pytest.mark.slow
async def test_the_palette_opens_the_chart(chart_run: RunPaths) -> None:
    app = AarApp(chart_run.root)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2)
        await pilot.press("ctrl+p", *"Open: Chart")
        await wait_screen(pilot, "the best verified PGR over agent-hours and dollars")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChartScreen))


def test_every_key_of_the_chart_has_an_id_a_keymap_knows_and_a_palette_title() -> None:
    known = binding_ids()
    opens = [b for b in Binding.make_bindings(MainScreen.BINDINGS) if b.id == "open.chart"]
    assert [(b.key, palette_title(b), b.show) for b in opens] == [("C", "Open: Chart", False)]
    for binding in Binding.make_bindings(ChartScreen.BINDINGS):
        assert binding.id in known and binding.description and binding.tooltip, binding
        noun, _, verb = palette_title(binding).partition(": ")
        assert noun in NOUNS.values() and verb, binding


def _chart(*keys: str) -> BeforeShot:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await _open_chart(pilot)
        await pilot.press(*keys)
        await wait_for(pilot, lambda: screen.progress is not None)
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_chart_snapshot(snap_compare: SnapCompare, chart_run_sync: RunPaths, size: tuple[int, int]) -> None:
    assert snap_compare(AarApp(chart_run_sync.root), terminal_size=size, run_before=_chart())


def test_chart_per_agent_over_dollars_snapshot(snap_compare: SnapCompare, chart_run_sync: RunPaths) -> None:
    assert snap_compare(AarApp(chart_run_sync.root), terminal_size=(80, 24), run_before=_chart("x", "a"))
