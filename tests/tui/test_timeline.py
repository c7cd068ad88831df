"""The timeline through Pilot on the real app and a real run store (``tests.tui.timeline_seed``): ``T`` opens it
and the palette lists it, zoom and scroll, the next and previous mark of a chosen kind, Enter opening a
submission's result, a post's thread and an agent's transcript at the step, ``/`` finding a word of a tool's
output and moving there, a query FTS5 refuses as one line, what the run writes next added while it is open,
``r`` asking for a replay of the mark's moment, nine lanes folded at 80x24, and every kind drawn with a glyph
of its own (NO_COLOR)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import on
from textual.binding import Binding
from textual.widgets import OptionList, RichLog

from aar.events import ErrorRaised
from aar.runtime import RunPaths
from aar.store import LeaderboardRow, RunStore
from aar.timeline import Mark, MarkKind
from tests.tui.helpers import screen_text, wait_for, wait_screen
from tests.tui.timeline_seed import SECRET_STEP, SECRET_WORD, timeline_run
from tui.app import AarApp
from tui.commands import NOUNS, palette_title
from tui.keymap import binding_ids
from tui.messages import ReplayRequested
from tui.screens.forum import ForumScreen
from tui.screens.inspect_step import InspectAtStep
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.main import MainScreen
from tui.screens.timeline import RELOAD_S, TimelineScreen
from tui.screens.timeline_search import TimelineSearch
from tui.widgets.key_bar import KeyBar
from tui.widgets.leaderboard_table import LeaderboardTable
from tui.widgets.timeline_lanes import TimelineLanes, cells, glyph, tick_step

NARROW = (80, 24)
WIDE = (160, 48)


@pytest.fixture
async def trun(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(await timeline_run(tmp_path / "run"))


async def _timeline(pilot: Any) -> TimelineLanes:
    await wait_screen(pilot, "agent-1")
    await pilot.press("T")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TimelineScreen))
    lanes: TimelineLanes = pilot.app.screen.query_one(TimelineLanes)
    await wait_for(pilot, lambda: lanes.timeline is not None and lanes.content_size.width > 0)
    return lanes


def _cursor(lanes: TimelineLanes) -> Mark:
    assert lanes.cursor is not None
    return lanes.cursor


async def _kind(pilot: Any, name: str) -> None:
    """Press ``k`` until the title says ``n/N: name``."""
    for _ in range(8):
        if f"n/N: {name}" in screen_text(pilot.app):
            return
        await pilot.press("k")
    await wait_screen(pilot, f"n/N: {name}")


async def test_T_opens_the_timeline_with_a_lane_per_agent_and_the_palette_lists_it(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        assert lanes.timeline is not None
        assert [lane.name for lane in lanes.timeline.lanes] == [*(f"agent-{i}" for i in range(1, 10)), "run"]
        assert lanes.whole and lanes.rows[0][0] == "" and len(lanes.rows) == 3, "a row per work, alerts, control"
        text = screen_text(app)
        assert "timeline · 01-01 00:01 → 02:20 · whole run (2h19m)" in text
        assert "T Timeline" not in " ".join(e.plain for e in app.main.query_one(KeyBar).entries()), "palette only"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("ctrl+p", *"Open: Timeline")
        await wait_screen(pilot, "What happened when")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))


def test_every_key_of_the_timeline_has_an_id_a_keymap_knows_and_a_palette_title() -> None:
    known = binding_ids()
    for binding in Binding.make_bindings([*TimelineScreen.BINDINGS, *TimelineSearch.BINDINGS]):
        assert binding.id in known and binding.description and binding.tooltip, binding
        noun, _, verb = palette_title(binding).partition(": ")
        assert noun in NOUNS.values() and verb, binding
    assert palette_title(known["open.timeline"]) == "Open: Timeline"


async def test_zoom_goes_from_the_whole_run_to_minutes_and_the_arrows_scroll(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        t = lanes.timeline
        assert t is not None and lanes.span == t.end - t.start
        await pilot.press("plus")
        await wait_for(pilot, lambda: lanes.span == 3600)
        await wait_screen(pilot, "1h00m shown")
        await pilot.press("plus")
        await wait_for(pilot, lambda: lanes.span == 900)
        await pilot.press("minus")
        await wait_for(pilot, lambda: lanes.span == 3600)
        await pilot.press("minus")
        await wait_for(pilot, lambda: lanes.whole)
        await pilot.press("z")
        await wait_for(pilot, lambda: lanes.span == 3600)
        start = lanes.start
        await pilot.press("right")
        await wait_for(pilot, lambda: lanes.start == start + 900)
        await pilot.press("left", "left")
        await wait_for(pilot, lambda: lanes.start == start - 900)
        await pilot.press("home")
        await wait_for(pilot, lambda: lanes.start == t.start)
        await wait_screen(pilot, "╷00:10")  # ten-minute ticks over an hour
        await pilot.press("end")
        await wait_for(pilot, lambda: lanes.start + lanes.span == t.end)
        await pilot.press("z")
        await wait_for(pilot, lambda: lanes.span == 300)
        await wait_screen(pilot, "5m shown")
        await pilot.press("z")
        await wait_for(pilot, lambda: lanes.whole)


async def test_n_and_N_move_to_the_next_and_previous_mark_of_the_chosen_kind(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        await wait_screen(pilot, "no mark chosen")
        await _kind(pilot, "submissions (5)")
        await pilot.press("n")
        await wait_for(pilot, lambda: lanes.cursor is not None)
        first = _cursor(lanes)
        assert (first.kind, first.agent, first.submission_id) == ("submission", "agent-1", 1)
        await wait_screen(pilot, "submission #1 predictions out/confidence_aux_weight_0_5.json: PGR 0.410")
        seen = [first.submission_id]
        for _ in range(4):
            await pilot.press("n")
            await wait_for(pilot, lambda: _cursor(lanes).submission_id not in seen)
            seen.append(_cursor(lanes).submission_id)
        assert seen == [1, 2, 3, 4, 5], "in time order"
        await pilot.press("n")  # no submission after the last: the cursor stays
        await pilot.press("N")
        await wait_for(pilot, lambda: _cursor(lanes).submission_id == 4)
        await _kind(pilot, "errors (2)")
        await pilot.press("n")
        await wait_for(pilot, lambda: _cursor(lanes).kind == "error")
        error = _cursor(lanes)
        assert (error.agent, error.what, glyph(error)) == ("agent-2", "error", "✖")
        text = await wait_screen(pilot, "not markup")
        assert "✖ agent-2" in text and "[bold red]not markup[/] \\x1b[31mred?\\x1b[0m" in text, "agent text, literal"
        assert "\x1b" not in app.export_screenshot()
        await pilot.press("n")
        await wait_for(pilot, lambda: _cursor(lanes).what == "restarted")
        await pilot.press("up")  # the lane above: agent-1's mark nearest in time
        await wait_for(pilot, lambda: _cursor(lanes).agent == "agent-1")


async def _to(pilot: Any, lanes: TimelineLanes, kind: str, test: Callable[[Mark], bool]) -> Mark:
    """The cursor on the first mark of ``kind`` that passes ``test``, with ``n`` (then ``N``) from where it is."""
    await _kind(pilot, kind)
    for key in ("n", "N"):
        for _ in range(10):
            await pilot.press(key)
            await wait_for(pilot, lambda: lanes.cursor is not None)
            if test(_cursor(lanes)):
                return _cursor(lanes)
    raise AssertionError(f"no {kind} mark passes the test")


async def test_enter_opens_a_submissions_result_a_posts_thread_and_an_errors_step(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        timeline = app.screen
        await _to(pilot, lanes, "submissions (5)", lambda m: m.submission_kind == "method")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen))
        table = app.screen.query_one(LeaderboardTable)
        row = table.rows_shown[table.cursor_row]
        assert isinstance(row, LeaderboardRow) and (row.submission_id, row.label) == (4, "boot.py")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is timeline)

        await _to(pilot, lanes, "posts (4)", lambda m: m.post_id == 2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ForumScreen) and app.screen.selected == 2)
        assert app.screen.query_one("#post-list", OptionList).highlighted_option.id == "2"  # type: ignore[union-attr]
        await wait_screen(pilot, "aux_weight 0.5 gave PGR 0.41 on feedback.")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is timeline)

        await _to(pilot, lanes, "errors (2)", lambda m: m.what == "error")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectAtStep))
        inspect = app.screen
        assert isinstance(inspect, InspectAtStep)
        assert (inspect.view.name, inspect.step) == ("agent-2", 11), "agent-2's last step before its error"
        await wait_for(pilot, lambda: inspect.scrolled_to is not None)
        log = inspect.query_one("#transcript", RichLog)
        assert log.lines[inspect.scrolled_to or 0].text.startswith("── step 11 ·")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is timeline)


async def test_slash_finds_a_word_of_a_tool_output_and_moves_the_cursor_there(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineSearch))
        search = app.screen
        assert isinstance(search, TimelineSearch)
        await pilot.press(*SECRET_WORD, "enter")
        await wait_for(pilot, lambda: len(search.hits) == 1)
        [hit] = search.hits
        assert (hit.agent, hit.kind, hit.step) == ("agent-3", "output", SECRET_STEP)
        text = await wait_screen(pilot, f"cat /data/[{SECRET_WORD}].csv")
        assert re.search(rf"\d\d:\d\d:\d\d agent-3 +step {SECRET_STEP} +output", text), text
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen) and lanes.cursor is not None)
        mark = _cursor(lanes)
        assert (mark.kind, mark.agent, mark.step, mark.ts) == ("hit", "agent-3", SECRET_STEP, hit.ts)
        assert lanes.start <= mark.ts < lanes.start + lanes.span
        async with await RunStore.open(trun.db) as store:
            assert mark.event_id == await store.first_event_at(hit.ts)
        await wait_screen(pilot, f"search hit, output at step {SECRET_STEP}: cat /data/[{SECRET_WORD}].csv")
        assert "◎" in "".join(strip.text for strip in lanes.frame()), "the hit is drawn in its lane"
        await pilot.press("enter")  # the transcript at the hit's step
        await wait_for(pilot, lambda: isinstance(app.screen, InspectAtStep))
        assert isinstance(app.screen, InspectAtStep)
        assert (app.screen.view.name, app.screen.step) == ("agent-3", SECRET_STEP)


async def test_a_query_fts5_cannot_parse_is_one_line_and_the_box_stays_open(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await _timeline(pilot)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineSearch))
        await pilot.press(*'"zanz', "enter")
        await wait_screen(pilot, """cannot search for '"zanz'""")  # ``aar search``'s line, in a toast
        assert isinstance(app.screen, TimelineSearch)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))


async def test_what_the_run_writes_next_is_added_and_the_cursor_stays(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        first = await _to(pilot, lanes, "submissions (5)", lambda m: True)
        async with await RunStore.open(trun.db) as daemon:
            daemon.emit("agent-5", ErrorRaised(message="out of memory", where="sandbox"))
            await daemon.flush()

        def added() -> bool:
            timeline = lanes.timeline
            index = timeline.lane_of("agent-5") if timeline else None
            return timeline is not None and index is not None and bool(timeline.lanes[index].marks)

        await wait_for(pilot, added, timeout=RELOAD_S + 5)
        assert lanes.cursor is not None and lanes.cursor.event_id == first.event_id
        await _kind(pilot, "errors (3)")


class ReplayRecorder(AarApp):
    """The app, recording the replays asked for instead of opening them (the app's own handler does that)."""

    CSS_PATH = str(Path(inspect.getfile(AarApp)).with_name("theme.tcss"))

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.replays: list[int] = []

    @on(ReplayRequested)
    def recorded(self, message: ReplayRequested) -> None:
        self.replays.append(message.event_id)
        message.prevent_default()


async def test_r_asks_for_a_replay_of_the_marks_moment(trun: RunPaths) -> None:
    app = ReplayRecorder(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        await pilot.press("r")  # no mark chosen: nothing to replay
        await _to(pilot, lanes, "flags (2)", lambda m: m.source == "monitor.decision")
        await pilot.press("r")
        await wait_for(pilot, lambda: len(app.replays) == 1)
        async with await RunStore.open(trun.db) as store:
            [event] = await store.events_of(["monitor.decision"])
        assert app.replays == [event.id] == [_cursor(lanes).event_id]


async def test_nine_lanes_fold_to_a_row_each_at_80x24_and_the_keys_stay_readable(trun: RunPaths) -> None:
    app = AarApp(trun.root)
    async with app.run_test(size=NARROW) as pilot:
        lanes = await _timeline(pilot)
        assert lanes.folded and len(lanes.frame()) == 1 + 10, "the axis, then a row per lane"
        lines = screen_text(app).splitlines()
        names = [line.split()[0] for line in lines[2:12]]
        assert names == [*(f"agent-{i}" for i in range(1, 10)), "run"]
        bar = app.screen.query_one(KeyBar)
        assert bar.size.height == 2 and "r Replay" in screen_text(app) and "⏎ Open / Search" in screen_text(app)
        await _kind(pilot, "errors (2)")
        await pilot.press("n")
        await wait_screen(pilot, "✖ agent-2")


async def test_every_kind_is_drawn_with_a_glyph_of_its_own_and_reads_with_no_color(
    trun: RunPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = AarApp(trun.root)
    async with app.run_test(size=WIDE) as pilot:
        lanes = await _timeline(pilot)
        drawn = "".join(strip.text for strip in lanes.frame())
        fills = {
            tuple(int(c[i : i + 2], 16) for i in (0, 2, 4))
            for c in re.findall(r"fill: #([0-9a-f]{6})", app.export_screenshot())
        }
    assert lanes.timeline is not None
    glyphs = {(m.kind, m.what, m.pgr is None): glyph(m) for m in lanes.timeline.marks()}
    assert {"◆", "●", "○", "✎", "⚑", "✖", "↻", "‖", "✉", "▸", "$"} <= set(glyphs.values()) <= set(drawn)
    by_glyph: dict[str, set[str]] = {}
    for (kind, _, _), shown in glyphs.items():
        by_glyph.setdefault(shown, set()).add(kind)
    assert all(len(kinds) == 1 for kinds in by_glyph.values()), by_glyph  # a glyph never stands for two kinds
    assert fills and all(max(rgb) - min(rgb) <= 8 for rgb in fills), sorted(fills)  # greys only


def test_a_cell_shows_the_chosen_kind_then_the_most_important_mark() -> None:
    def at(ts: float, kind: MarkKind) -> Mark:
        return Mark(ts=ts, event_id=int(ts * 10), kind=kind, agent="a", text=kind)

    marks = [at(0.0, "post"), at(0.5, "error"), at(0.6, "submission"), at(5.0, "budget"), at(9.99, "flag")]
    shown = cells(marks, 0.0, 10.0, 10, None)  # a second a cell
    assert {col: m.kind for col, m in shown.items()} == {0: "error", 5: "budget", 9: "flag"}
    assert cells(marks, 0.0, 10.0, 10, "post")[0].kind == "post", "the chosen kind wins its cell"
    assert list(cells(marks, 2.0, 5.0, 10, None)) == [6], "only the cells in view: 5 s over 10 cells"
    assert tick_step(8 * 3600, 140) == 3600 and tick_step(300, 140) == 30
