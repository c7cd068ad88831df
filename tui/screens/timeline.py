"""The timeline: what happened, and when, across the whole team (``T`` on the agents).

One lane per agent over wall time (``aar.timeline``), a mark for each submission (coloured by its PGR, a
method apart from a prediction file), post, flag and monitor action, supervisor command and pause, error and
sandbox restart, and budget event. ``+`` / ``-`` zoom between a minute and the whole run (``z`` jumps
whole run, an hour, five minutes), the arrows scroll and change lanes, ``k`` chooses a kind that ``n`` / ``N``
step through. Enter opens the mark: a submission's result on the leaderboard, a post's thread, anything
else of an agent its transcript at that step (``tui.screens.inbox_jumps``, as the inbox opens things). ``/``
searches every transcript and post; ``r`` asks for a replay of the mark's moment (``ReplayRequested``).

The timeline is read when the screen opens; while the run moves on, what was written since is added every
few seconds, in a worker, and the cursor stays on its mark.
"""

from __future__ import annotations

import gc
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from aar.store.search_index import SearchHit
from aar.timeline import MARK_KINDS, Mark, MarkKind, Timeline, hit_mark
from tui.messages import ReplayRequested
from tui.model import Changes
from tui.renderables import data
from tui.screens.base import RunScreen
from tui.widgets.key_bar import KeyBar
from tui.widgets.timeline_lanes import TimelineLanes, glyph

if TYPE_CHECKING:
    from tui.app import AarApp

RELOAD_S = 5.0
"""How often the timeline is read again while the run moves on."""
PRESETS: tuple[float | None, ...] = (None, 3600.0, 300.0)
"""What ``z`` cycles through: the whole run, an hour, five minutes."""
KIND_NAMES: dict[MarkKind | None, str] = {
    None: "every mark",
    "submission": "submissions",
    "post": "posts",
    "flag": "flags",
    "control": "supervisor",
    "error": "errors",
    "budget": "budget",
}
LEGEND = (
    "◆ method  ● predictions  ◇○ unscored  ✎ post  ⚑ flag  ✖ error  ↻ restart  ‖ pause  ✉ message  ▸ command  "
    "? question  ⑂ branch  $ budget  ◎ search hit  · colour: PGR"
)


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


class TimelineScreen(RunScreen):
    CSS_PATH = "timeline.tcss"
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the agents", id="timeline.back"),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom in", tooltip="Show a shorter time", id="timeline.zoom-in"),
        Binding(
            "minus", "zoom(1)", "Zoom out", tooltip="Show a longer time, up to the whole run", id="timeline.zoom-out"
        ),
        Binding(
            "z",
            "preset",
            "Whole/1h/5m",
            tooltip="Show the whole run, an hour or five minutes around the cursor",
            id="timeline.preset",
        ),
        Binding("left", "scroll(-0.25)", "Earlier", show=False, tooltip="Scroll back in time", id="timeline.earlier"),
        Binding("right", "scroll(0.25)", "Later", show=False, tooltip="Scroll on in time", id="timeline.later"),
        Binding("home", "edge(False)", "Start", show=False, tooltip="The run's start", id="timeline.start"),
        Binding("end", "edge(True)", "End", show=False, tooltip="The run's end", id="timeline.end"),
        Binding(
            "up", "lane(-1)", "Lane up", show=False, tooltip="The nearest mark in the lane above", id="timeline.up"
        ),
        Binding(
            "down", "lane(1)", "Lane down", show=False, tooltip="The nearest mark in the lane below", id="timeline.down"
        ),
        Binding("k", "kind", "Kind", tooltip="Choose the kind of mark n and N move to", id="timeline.kind"),
        Binding("n", "step(1)", "Next", tooltip="The next mark of the chosen kind", id="timeline.next"),
        Binding("N", "step(-1)", "Prev", tooltip="The previous mark of the chosen kind", id="timeline.prev"),
        Binding(
            "enter",
            "open",
            "Open",
            tooltip="A submission's result, a post's thread, or the agent's transcript at that step",
            id="timeline.open",
        ),
        Binding(
            "slash",
            "search",
            "Search",
            tooltip="Search every transcript and post, and move to a hit",
            id="timeline.search",
        ),
        Binding("r", "replay", "Replay", tooltip="The run as it was at the mark's moment", id="timeline.replay"),
    ]

    def __init__(self, timeline: Timeline | None = None) -> None:
        """``timeline``: read before the screen opens, so that its first frame shows it."""
        super().__init__()
        self.loaded: Timeline | None = timeline
        """The timeline as read from the store (without the search hit)."""
        self.hit: Mark | None = None
        """The search hit placed on it, if any."""
        self.kind: MarkKind | None = None
        """The kind ``n`` and ``N`` move to; None: every kind."""
        self._due = False
        """The run moved on since the timeline was read."""

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-title")
        yield TimelineLanes(id="timeline-lanes")
        yield Static(LEGEND, id="timeline-legend", markup=False)
        yield Static(id="timeline-cursor")
        yield KeyBar()

    @property
    def lanes(self) -> TimelineLanes:
        return self.query_one(TimelineLanes)

    def on_mount(self) -> None:
        if self.loaded is not None:
            self._show(self.loaded, first=True)
        else:
            self.query_one("#timeline-title", Static).update("timeline · reading the run…")
            self.load()
        self.set_interval(RELOAD_S, self._reload_if_due, name="timeline-reload")

    def refresh_views(self, changes: Changes) -> None:
        """The run moved on: what was written since is read at the next interval."""
        if changes.agents or changes.posts or changes.board or changes.applied or changes.status:
            self._due = True

    def _reload_if_due(self) -> None:
        if self._due:
            self._due = False
            self.load()

    @work(group="timeline", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        """Read the timeline, or only what was written since it was read."""
        found = await self.aar.client.timeline(after=self.loaded)
        if found is not self.loaded:
            self._show(found, first=self.loaded is None)

    def _show(self, timeline: Timeline, *, first: bool) -> None:
        lanes = self.lanes
        was_whole = lanes.timeline is None or lanes.whole
        self.loaded = timeline
        cursor = lanes.cursor
        lanes.timeline = timeline.with_hit(self.hit) if self.hit is not None else timeline
        if first or was_whole:
            lanes.zoom(None)
        else:
            lanes.place(lanes.start, lanes.span)
        if cursor is not None:  # the same mark, as read again (its score may be new)
            same = [m for m in lanes.timeline.marks() if (m.event_id, m.kind) == (cursor.event_id, cursor.kind)]
            lanes.cursor = same[0] if same else None
        self._title()
        # What was just read lives as long as the screen: frozen out of the collector's full passes, as the app
        # freezes what it holds on attach. Left in, a long run's marks made each full pass ~50 ms, one frame in
        # twenty (bench/timeline.py).
        self.call_after_refresh(gc.freeze)

    # ------------------------------------------------------------ what the lines say

    def _title(self) -> None:
        lanes, t = self.lanes, self.lanes.timeline
        if t is None:
            return
        start = datetime.fromtimestamp(t.start)
        end = datetime.fromtimestamp(t.end).strftime("%H:%M" if t.end - t.start < 86400 else "%m-%d %H:%M")
        shown = f"whole run ({duration(lanes.run_span)})" if lanes.whole else f"{duration(lanes.span)} shown"
        chosen = KIND_NAMES[self.kind] + (f" ({lanes.count(self.kind)})" if self.kind else "")
        title = Text(f"timeline · {start:%m-%d %H:%M} → {end} · {shown} · n/N: {chosen}", no_wrap=True, end="")
        self.query_one("#timeline-title", Static).update(title)

    @on(TimelineLanes.CursorMoved)
    def _describe(self, event: TimelineLanes.CursorMoved) -> None:
        mark, t = event.mark, self.lanes.timeline
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        if mark is None or t is None:
            line.append("no mark chosen: n / N move to the next / previous mark, ↑ ↓ to a lane", style="dim")
        else:
            when = datetime.fromtimestamp(mark.ts).strftime("%H:%M:%S")
            line.append(f"{glyph(mark)} ", style="bold")
            line.append_text(data(mark.agent or "run", "bold"))
            line.append(f" {when} (+{duration(mark.ts - t.start)}) ", style="dim")
            line.append_text(data(mark.label))
        self.query_one("#timeline-cursor", Static).update(line)

    # ------------------------------------------------------------ keys

    def action_zoom(self, direction: int) -> None:
        self.lanes.zoom_step(direction)
        self._title()

    def action_preset(self) -> None:
        lanes = self.lanes
        current = None if lanes.whole else lanes.span
        fitting = [p for p in PRESETS if p is None or p < lanes.run_span]
        index = fitting.index(current) if current in fitting else -1
        lanes.zoom(fitting[(index + 1) % len(fitting)])
        self._title()

    def action_scroll(self, fraction: float) -> None:
        self.lanes.scroll_by(fraction)

    def action_edge(self, end: bool) -> None:
        self.lanes.to_edge(end)

    def action_lane(self, direction: int) -> None:
        self.lanes.step_lane(direction)
        self._title()

    def action_kind(self) -> None:
        kinds: list[MarkKind | None] = [None, *MARK_KINDS]
        self.kind = kinds[(kinds.index(self.kind) + 1) % len(kinds)]
        self.lanes.prefer = self.kind
        self._title()

    def action_step(self, direction: int) -> None:
        here = "this mark" if self.lanes.cursor is not None else "the view"
        if self.lanes.step(direction, self.kind) is None:
            what = "marks" if self.kind is None else KIND_NAMES[self.kind]
            self.notify(f"no {what} {'after' if direction > 0 else 'before'} {here}", markup=False, timeout=3)
        self._title()

    def _chosen(self) -> Mark | None:
        mark = self.lanes.cursor
        if mark is None:
            self.notify("choose a mark first: n / N, or ↑ ↓", severity="warning", markup=False)
        return mark

    def action_replay(self) -> None:
        if mark := self._chosen():
            self.post_message(ReplayRequested(mark.event_id))

    @work(group="timeline-open", exclusive=True, exit_on_error=False)
    async def action_open(self) -> None:
        """What the mark is about: its post, its submission's result, else its agent's transcript at the step."""
        from tui.screens import inbox_jumps
        from tui.screens.inspect import InspectScreen
        from tui.screens.inspect_step import InspectAtStep

        mark = self._chosen()
        if mark is None:
            return
        if mark.post_id is not None:
            await inbox_jumps.to_post(self.aar, mark.post_id)
            return
        if mark.submission_id is not None:
            await inbox_jumps.to_submission(self.aar, mark.submission_id)
            return
        view = self.aar.model.agents.get(mark.agent) if mark.agent is not None else None
        if view is None:
            self.notify("a mark of the run itself: r replays its moment", markup=False)
            return
        step = mark.step if mark.step is not None else await self.aar.client.step_at(view.name, mark.event_id)
        await self.app.push_screen(InspectScreen(view) if step is None else InspectAtStep(view, step))

    def action_search(self) -> None:
        from tui.screens.timeline_search import TimelineSearch

        self.app.push_screen(TimelineSearch(), self._found)

    def _found(self, hit: SearchHit | None) -> None:
        if hit is not None:
            self.place_hit(hit)

    @work(group="timeline-hit", exclusive=True, exit_on_error=False)
    async def place_hit(self, hit: SearchHit) -> None:
        """The cursor on the hit, in its agent's lane at its moment."""
        mark = hit_mark(hit, await self.aar.client.event_at(hit.ts))
        self.hit = mark
        if self.loaded is not None:
            self.lanes.timeline = self.loaded.with_hit(mark)
        self.lanes.reveal(mark)
        self._title()


async def open_timeline(app: AarApp) -> None:
    """Read the timeline, then open the screen on it: its first frame is whole."""
    await app.push_screen(TimelineScreen(await app.client.timeline()))
