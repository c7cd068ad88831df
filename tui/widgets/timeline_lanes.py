"""The timeline's lanes: one per agent over wall time, a time axis above, a glyph per mark.

Each cell of a lane covers ``span / width`` seconds; where several marks share a cell the chosen kind's wins,
then the most important (``aar.timeline.RANK``), and the cursor's mark is always drawn. Glyphs differ by kind
(a method ``◆``, a prediction file ``●``, hollow while unscored; a post ``✎``, a flag ``⚑``, an error ``✖``, a
sandbox restart ``↻``, a pause ``‖``, a message ``✉``, a budget event ``$``), so the lanes read with NO_COLOR;
colour adds the PGR of each scored submission. A lane takes as many rows as the height allows every lane, so
that fewer marks share a cell: a row per kind, or three (its work; what went wrong; the supervisor's hand), or
one (folded: 9 agents at 80x24).

The frame is worked out once per refresh, each row one strip: a bisection and one pass over the marks in view
(9 lanes of 2,000 marks at the whole run: ~9 ms at 160x48, ``bench/timeline.py``). A row that shows what it
showed in the frame before is not drawn again, so a key that moves the cursor redraws two lanes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Self

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.theme import Theme
from textual.widget import Widget

from aar.timeline import RANK, Lane, Mark, MarkKind, Timeline
from tui.text import visible

Rows = tuple[tuple[str, frozenset[MarkKind]], ...]
"""A lane's rows: each one's name (the lane's own for the first) and the kinds it draws."""
LAYOUTS: tuple[Rows, ...] = (
    (
        ("", frozenset({"submission", "hit"})),
        ("posts", frozenset({"post"})),
        ("flags", frozenset({"flag"})),
        ("errors", frozenset({"error"})),
        ("control", frozenset({"control"})),
        ("budget", frozenset({"budget"})),
    ),
    (
        ("", frozenset({"submission", "post", "hit"})),
        ("alerts", frozenset({"flag", "error"})),
        ("control", frozenset({"control", "budget"})),
    ),
    (("", frozenset(RANK)),),
)
"""A lane's rows, the first layout whose rows fit: a row per kind; its work, what went wrong and the supervisor's
hand; one row (folded)."""
LABEL_MAX = 14
PREFERRED = 100
"""Added to the rank of the chosen kind's marks: they win every cell they share."""
MIN_SPAN = 60.0
"""The narrowest view: a minute."""
ZOOMS = (60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)
"""The zoom levels between a minute and the whole run."""
TICKS_S = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
TICK_CELLS = 10
"""The fewest cells between two labelled ticks."""
PAUSES = frozenset({"pause", "paused", "stop", "stop_run", "interrupt"})
MESSAGES = frozenset({"redirect", "answer"})
RESTARTS = frozenset({"restarted", "recreated"})
PGR_BANDS = ((0.25, "low"), (0.6, "mid"))
"""A scored submission's colour: below 0.25 (about the humans' 0.23 after 7 days), below 0.6, else high."""


def glyph(mark: Mark) -> str:
    """The mark's glyph, which says its kind without colour."""
    match mark.kind:
        case "submission":
            scored = mark.pgr is not None
            if mark.submission_kind == "method":
                return "◆" if scored else "◇"
            return "●" if scored else "○"
        case "post":
            return "✎"
        case "flag":
            return "⚑"
        case "error":
            return "↻" if mark.what in RESTARTS else "✖"
        case "control":
            if mark.what in PAUSES:
                return "‖"
            if mark.what == "branch":
                return "⑂"
            return "✉" if mark.what in MESSAGES else "?" if mark.what == "ask" else "▸"
        case "budget":
            return "$"
        case "hit":
            return "◎"


def style_class(mark: Mark) -> str:
    """The component class that colours the mark: by PGR for a scored submission, else by kind."""
    if mark.kind != "submission":
        return f"timeline--{mark.kind}"
    if mark.pgr is None:
        return "timeline--unscored"
    band = next((name for top, name in PGR_BANDS if mark.pgr < top), "high")
    return f"timeline--pgr-{band}"


def tick_step(span: float, cells: int) -> float:
    """The smallest round step (a second to a week) that puts ``TICK_CELLS`` cells between labelled ticks."""
    for step in TICKS_S:
        if step * cells / span >= TICK_CELLS:
            return step
    return TICKS_S[-1]


def cells(marks: Sequence[Mark], start: float, span: float, width: int, prefer: MarkKind | None) -> dict[int, Mark]:
    """The mark shown in each cell of ``width`` cells from ``start`` over ``span`` seconds (``marks`` in time
    order): ``prefer``'s kind first, then the highest rank, then the earliest."""
    out: dict[int, Mark] = {}
    scale = width / span
    col, best, weight = -1, None, -1
    for mark in marks:
        at = int((mark.ts - start) * scale)
        mine = RANK[mark.kind] + (PREFERRED if mark.kind == prefer else 0)
        if at != col:
            if best is not None and 0 <= col < width:
                out[col] = best
            col, best, weight = at, mark, mine
        elif mine > weight:
            best, weight = mark, mine
    if best is not None and 0 <= col < width:
        out[col] = best
    return out


class TimelineLanes(Widget):
    """The lanes of ``timeline`` from ``start`` over ``span`` seconds, with ``cursor`` on a mark."""

    DEFAULT_CSS = """
    TimelineLanes {
        height: 1fr;
    }
    TimelineLanes > .timeline--axis { color: $text-muted; }
    TimelineLanes > .timeline--grid { color: $text-muted; text-style: dim; }
    TimelineLanes > .timeline--label { text-style: bold; }
    TimelineLanes > .timeline--sublabel { color: $text-muted; }
    TimelineLanes > .timeline--current { color: $text-accent; text-style: bold reverse; }
    TimelineLanes > .timeline--cursor { text-style: reverse bold; }
    TimelineLanes > .timeline--unscored { color: $text-muted; }
    TimelineLanes > .timeline--pgr-low { color: $text-error; text-style: bold; }
    TimelineLanes > .timeline--pgr-mid { color: $text-warning; text-style: bold; }
    TimelineLanes > .timeline--pgr-high { color: $text-success; text-style: bold; }
    TimelineLanes > .timeline--post { color: $text-primary; }
    TimelineLanes > .timeline--flag { color: $warning; text-style: bold; }
    TimelineLanes > .timeline--error { color: $text-error; text-style: bold; }
    TimelineLanes > .timeline--control { color: $text-accent; text-style: bold; }
    TimelineLanes > .timeline--budget { color: $text-warning; }
    TimelineLanes > .timeline--hit { color: $accent; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--axis",
        "timeline--grid",
        "timeline--label",
        "timeline--sublabel",
        "timeline--current",
        "timeline--cursor",
        "timeline--unscored",
        "timeline--pgr-low",
        "timeline--pgr-mid",
        "timeline--pgr-high",
        "timeline--post",
        "timeline--flag",
        "timeline--error",
        "timeline--control",
        "timeline--budget",
        "timeline--hit",
    }

    timeline: reactive[Timeline | None] = reactive(None, always_update=True)
    start: reactive[float] = reactive(0.0)
    """The time at the left edge."""
    span: reactive[float] = reactive(60.0)
    """Seconds across the lanes."""
    cursor: reactive[Mark | None] = reactive(None)
    prefer: reactive[MarkKind | None] = reactive(None)
    """The chosen kind: it wins the cells it shares."""

    class CursorMoved(Message):
        """The cursor is on another mark (or on none)."""

        def __init__(self, mark: Mark | None) -> None:
            super().__init__()
            self.mark = mark

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._frame: list[Strip] | None = None
        self.top_lane = 0
        """The first lane shown, when there are more lanes than rows."""
        self._all: list[Mark] = []
        """Every mark, in time order."""
        self._keys: list[tuple[float, int]] = []
        self._times: list[float] = []
        self._by_kind: dict[MarkKind, list[int]] = {}
        """The positions in ``_all`` of each kind's marks."""
        self._rows: dict[tuple[str | None, frozenset[MarkKind]], tuple[list[float], list[Mark]]] = {}
        """Each lane's marks by the kinds of a row (``_of_row``)."""
        self._strips: dict[tuple[object, ...], Strip] = {}
        """The last frame's rows by what they show: a key that moves the cursor draws only the lanes it left and
        entered again."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, theme: Theme) -> None:
        """Rows drawn in the old theme's colours are not reused."""
        self._strips = {}
        self.refresh()

    # ------------------------------------------------------------ geometry

    @property
    def rows(self) -> Rows:
        """The rows of each lane: the first layout that fits every lane, else folded (one row each)."""
        lanes = len(self.timeline.lanes) if self.timeline else 0
        return next((rows for rows in LAYOUTS if 1 + len(rows) * lanes <= self.content_size.height), LAYOUTS[-1])

    @property
    def folded(self) -> bool:
        return len(self.rows) == 1

    @property
    def label_width(self) -> int:
        names = [len(visible(lane.name)) for lane in self.timeline.lanes] if self.timeline else []
        rows = [len(name) + 2 for name, _ in self.rows]
        return min(max([6, *names, *rows]) + 1, LABEL_MAX)

    @property
    def track_width(self) -> int:
        return max(self.content_size.width - self.label_width, 1)

    @property
    def lanes_shown(self) -> int:
        return max((self.content_size.height - 1) // len(self.rows), 1)

    def watch_cursor(self, mark: Mark | None) -> None:
        if self.timeline is not None and mark is not None:
            index = self.timeline.lane_of(mark.agent) or 0
            if index < self.top_lane:
                self.top_lane = index
            elif index >= self.top_lane + self.lanes_shown:
                self.top_lane = index - self.lanes_shown + 1
        self.post_message(self.CursorMoved(mark))

    # ------------------------------------------------------------ the window and the cursor

    def watch_timeline(self, timeline: Timeline | None) -> None:
        self._all = timeline.marks() if timeline else []
        self._keys = [(m.ts, m.event_id) for m in self._all]
        self._times = [m.ts for m in self._all]
        self._by_kind = {}
        self._rows, self._strips = {}, {}
        for position, mark in enumerate(self._all):
            self._by_kind.setdefault(mark.kind, []).append(position)

    def count(self, kind: MarkKind) -> int:
        """How many marks of ``kind`` the timeline holds."""
        return len(self._by_kind.get(kind, ()))

    @property
    def run_span(self) -> float:
        """The run's length (at least ``MIN_SPAN``): the whole run's zoom."""
        t = self.timeline
        return max(t.end - t.start, MIN_SPAN) if t else MIN_SPAN

    @property
    def whole(self) -> bool:
        return self.span >= self.run_span

    def place(self, start: float, span: float) -> None:
        """Show ``span`` seconds from ``start``, kept within the run (the whole run at most)."""
        t = self.timeline
        if t is None:
            return
        span = min(span, self.run_span)
        self.span = span
        self.start = min(max(start, t.start), t.start + self.run_span - span)

    def zoom(self, span: float | None) -> None:
        """Show ``span`` seconds (the whole run: None) around the cursor, or around the middle of the view."""
        middle = self.start + self.span / 2
        if self.cursor is not None and self.start <= self.cursor.ts < self.start + self.span:
            middle = self.cursor.ts
        span = self.run_span if span is None else span
        self.place(middle - span / 2, span)

    def zoom_step(self, direction: int) -> None:
        """The next zoom level in (``direction`` < 0) or out; out of the last level, the whole run."""
        if direction < 0:
            finer = [z for z in ZOOMS if z < self.span * 0.99]
            self.zoom(finer[-1] if finer else self.span)
        else:
            wider = [z for z in ZOOMS if z > self.span * 1.01 and z < self.run_span]
            self.zoom(wider[0] if wider else None)

    def scroll_by(self, fraction: float) -> None:
        self.place(self.start + fraction * self.span, self.span)

    def to_edge(self, end: bool) -> None:
        t = self.timeline
        if t is not None:
            self.place(t.end - self.span if end else t.start, self.span)

    def reveal(self, mark: Mark) -> None:
        """The cursor on ``mark``, the view moved to it if it is out of view."""
        self.cursor = mark
        if not self.start <= mark.ts < self.start + self.span:
            self.place(mark.ts - self.span / 2, self.span)

    def _position(self, mark: Mark) -> int | None:
        """Where ``mark`` is among every mark in time order."""
        at = bisect.bisect_left(self._keys, (mark.ts, mark.event_id))
        while at < len(self._all) and self._keys[at] == (mark.ts, mark.event_id):
            if self._all[at] == mark:
                return at
            at += 1
        return None

    def step(self, direction: int, kind: MarkKind | None) -> Mark | None:
        """The next (``direction`` > 0) or previous mark of ``kind`` (any: None) after the cursor, or after the
        left edge of the view (before its right edge) without one; the cursor moves there. None: there is none."""
        positions = self._by_kind.get(kind, []) if kind is not None else range(len(self._all))
        at = self._position(self.cursor) if self.cursor is not None else None
        if at is None:
            edge = self.start if direction > 0 else self.start + self.span
            at = bisect.bisect_left(self._times, edge) - (1 if direction > 0 else 0)
        if direction > 0:
            index = bisect.bisect_right(positions, at)
            found = positions[index] if index < len(positions) else None
        else:
            index = bisect.bisect_left(positions, at) - 1
            found = positions[index] if index >= 0 else None
        if found is None:
            return None
        self.reveal(self._all[found])
        return self._all[found]

    def step_lane(self, direction: int) -> Mark | None:
        """The mark nearest in time to the cursor in the next lane down (``direction`` > 0) or up that has one."""
        t = self.timeline
        if t is None or not t.lanes:
            return None
        here = t.lane_of(self.cursor.agent) if self.cursor is not None else None
        when = self.cursor.ts if self.cursor is not None else self.start + self.span / 2
        index = (here if here is not None else -1 if direction > 0 else len(t.lanes)) + direction
        while 0 <= index < len(t.lanes):
            lane = t.lanes[index]
            if lane.marks:
                at = bisect.bisect_left(lane.times, when)
                near = lane.marks[max(at - 1, 0) : at + 1]
                mark = min(near, key=lambda m: abs(m.ts - when))
                self.reveal(mark)
                return mark
            index += direction
        return None

    # ------------------------------------------------------------ drawing

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        self._frame = None
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self._frame is None:
            self._frame = self.frame()
        return self._frame[y] if y < len(self._frame) else Strip.blank(width, self.rich_style)

    def frame(self) -> list[Strip]:
        """Every row of the lanes as they are now: the axis, then each lane's row(s)."""
        timeline, (width, height) = self.timeline, self.content_size
        if timeline is None or width <= 0 or self.span <= 0:
            return []
        ticks = self._ticks()
        out = [self._axis(ticks)]
        rows, cursor = self.rows, self.cursor
        grid = dict.fromkeys(col for col, _ in ticks)
        view = (self.start, self.span, width, self.label_width, self.prefer)
        previous, self._strips = self._strips, {}
        for lane in timeline.lanes[self.top_lane : self.top_lane + self.lanes_shown]:
            mine = (
                (cursor.event_id, cursor.kind, cursor.ts) if cursor is not None and cursor.agent == lane.agent else None
            )
            for name, kinds in rows:
                key = (lane.agent, kinds, mine, *view)
                strip = previous.get(key) or self._row(lane, name, kinds, grid)
                self._strips[key] = strip
                out.append(strip)
        return out[:height]

    def _style(self, name: str, *, partial: bool = False) -> Style:
        return self.get_component_rich_style(name, partial=partial)

    def _ticks(self) -> list[tuple[int, float]]:
        """``(column, time)`` of each round time in view."""
        track = self.track_width
        step = tick_step(self.span, track)
        first = math.ceil(self.start / step) * step
        out = []
        for n in range(int(self.span // step) + 2):
            col = int((first + n * step - self.start) * track / self.span)
            if 0 <= col < track:
                out.append((col, first + n * step))
        return out

    def _axis(self, ticks: list[tuple[int, float]]) -> Strip:
        """The day at the left, then ``╷HH:MM`` at each tick that has room for its time."""
        label, track = self.label_width, self.track_width
        style = self._style("timeline--axis")
        day = datetime.fromtimestamp(self.start).strftime("%m-%d")
        fmt = "%H:%M" if tick_step(self.span, track) >= 60 else "%H:%M:%S"
        line = [" "] * track
        for col, t in ticks:
            text = "╷" + datetime.fromtimestamp(t).strftime(fmt)
            if all(c == " " for c in line[max(col - 1, 0) : col + len(text) + 1]):
                line[col : col + len(text)] = list(text[: track - col])
        return Strip([Segment(f"{day:<{label}}"[:label], style), Segment("".join(line[:track]), style)], label + track)

    def _of_row(self, lane: Lane, kinds: frozenset[MarkKind]) -> tuple[list[float], list[Mark]]:
        """The times and marks of ``lane`` that a row of ``kinds`` draws, in time order (kept until the timeline
        changes: a frame only bisects them)."""
        key = (lane.agent, kinds)
        found = self._rows.get(key)
        if found is None:
            marks = [m for m in lane.marks if m.kind in kinds]
            found = self._rows[key] = ([m.ts for m in marks], marks)
        return found

    def _row(self, lane: Lane, name: str, kinds: frozenset[MarkKind], grid: dict[int, None]) -> Strip:
        """One row of ``lane``: its name (or its row's), then each cell's mark, ``┊`` under the ticks."""
        label, track, cursor, plain = self.label_width, self.track_width, self.cursor, self.rich_style
        current = cursor is not None and cursor.agent == lane.agent
        if name:
            segments = [Segment(f"  {name}"[: label - 1].ljust(label), self._style("timeline--sublabel"))]
        else:
            style = self._style("timeline--current" if current else "timeline--label")
            segments = [Segment(visible(lane.name)[: label - 1].ljust(label - 1), style), Segment(" ", plain)]
        times, of_row = self._of_row(lane, kinds)
        marks = of_row[bisect.bisect_left(times, self.start) : bisect.bisect_left(times, self.start + self.span)]
        shown: dict[int, Mark | None] = dict(grid)
        shown.update(cells(marks, self.start, self.span, track, self.prefer))
        if cursor is not None and current and cursor.kind in kinds:
            at = int((cursor.ts - self.start) * track / self.span)
            if 0 <= at < track:
                shown[at] = cursor
        faint, on_cursor = self._style("timeline--grid"), self._style("timeline--cursor", partial=True)
        col = 0
        for at in sorted(shown):
            if at > col:
                segments.append(Segment(" " * (at - col), plain))
            mark = shown[at]
            if mark is None:
                segments.append(Segment("┊", faint))
            else:
                style = self._style(style_class(mark))
                segments.append(Segment(glyph(mark), style + on_cursor if mark is cursor else style))
            col = at + 1
        if col < track:
            segments.append(Segment(" " * (track - col), plain))
        return Strip(segments, label + track)
