"""The progress chart laid out on a grid of terminal cells: each cell a glyph and a role, which the widget
styles from the theme (``tui.widgets.progress_chart``).

Every mark differs by its glyph, not only its colour, so the chart reads with NO_COLOR: the best verified
PGR is a heavy step line (``━ ┃ ┏ ┛``), each agent's own best a light one (``─ │ ┌ ┘``) ending in the
agent's number, reference lines are dashed (``╌``) and labelled in the right margin, a verified method is
``●`` (in the per-agent view, its author's number), a prediction file ``○``, a method that does not count
``✗``. Plain Python: no Textual, no Rich; agent text is escaped here and styled, never parsed, there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aar.progress import (
    AXIS_NAMES,
    Axis,
    Progress,
    ProgressPoint,
    Series,
    axis_text,
    nice_ticks,
    pgr_range,
    point_x,
    step_x,
)
from tui.text import one_line

METHOD, PREDICTIONS, NOT_COUNTED = "●", "○", "✗"
HEAVY = {"h": "━", "v": "┃", "up": "┛", "top": "┏"}
LIGHT = {"h": "─", "v": "│", "up": "┘", "top": "┌"}
DASH = "╌"
AGENT_MARKS = "123456789abcdefghijklmnopqrstuvwxyz"
"""The mark of each agent in the per-agent view, in the order of the agents."""
MARGIN_MAX = 18
"""Columns at most for the labels of the horizontal lines, right of the plot."""
PRIORITY = {"reference": 0, "label": 0, "best": 1, "agent": 1, "predictions": 2, "flagged": 3, "method": 4}
"""What wins a cell two marks fall into."""


@dataclass
class Grid:
    """``height`` rows of ``width`` cells, each ``(glyph, role)``; role ``agent-N`` is agent N's colour."""

    width: int
    height: int
    cells: list[list[tuple[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cells = [[(" ", "plain")] * self.width for _ in range(self.height)]

    def put(self, x: int, y: int, glyph: str, role: str, *, over: bool = True) -> None:
        if 0 <= x < self.width and 0 <= y < self.height and (over or self.cells[y][x][0] == " "):
            self.cells[y][x] = (glyph, role)

    def write(self, x: int, y: int, text: str, role: str) -> None:
        for i, ch in enumerate(text):
            self.put(x + i, y, ch, role)

    def rows(self) -> list[str]:
        """The glyphs alone, one string per row (what the tests read)."""
        return ["".join(g for g, _ in row) for row in self.cells]


@dataclass(frozen=True)
class Frame:
    """Where the plot sits in the grid and what its axes span."""

    left: int
    top: int
    cols: int
    rows: int
    x_max: float
    y_low: float
    y_high: float

    def col(self, x: float) -> int:
        return self.left + round(min(max(x / self.x_max, 0.0), 1.0) * (self.cols - 1))

    def row(self, y: float) -> int:
        share = (self.y_high - min(max(y, self.y_low), self.y_high)) / (self.y_high - self.y_low)
        return self.top + round(share * (self.rows - 1))


def legend(progress: Progress | None, per_agent: bool, width: int) -> list[str]:
    """The legend's lines, wrapped to ``width``: the marks, then (per agent) each agent's number and name."""
    first = "1-9 method (own hours, $)" if per_agent else f"{HEAVY['h']} best verified  {METHOD} method"
    parts = [first, f"{PREDICTIONS} prediction file", f"{NOT_COUNTED} not counted", f"{DASH} reference"]
    if per_agent and progress is not None:
        parts += [f"{mark} {one_line(s.name, 24)}" for mark, s in zip(AGENT_MARKS, progress.agents, strict=False)]
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += "  " + part
        else:
            lines.append(part[:width])
    return lines


def layout(progress: Progress | None, axis: Axis, per_agent: bool, width: int, height: int) -> Grid:
    """The whole chart in ``width`` x ``height`` cells; a note in the middle when there is nothing to draw."""
    grid = Grid(max(width, 1), max(height, 1))
    notes = legend(progress, per_agent, grid.width)
    for i, line in enumerate(notes):
        grid.write(0, grid.height - len(notes) + i, line, "label")
    if progress is None:
        _centre(grid, grid.height // 2, "reading the run…")
        return grid
    y_low, y_high = pgr_range(progress)
    y_ticks = nice_ticks(y_low, y_high, max(2, (grid.height - len(notes) - 2) // 3 + 1))
    y_labels = [f"{v:.1f}" if abs(v) < 10 else f"{v:.0f}" for v in y_ticks]
    left = max(len(t) for t in y_labels) + 1
    marks = _line_labels(progress, per_agent)
    margin = min(MARGIN_MAX, max((len(t) for _, t, _ in marks), default=0) + 1)
    series = progress.agents if per_agent else [progress.team]
    x_max = max([s.x(axis) for s in series] + [point_x(p, axis, own=per_agent) for p in progress.points] + [0.0])
    frame = Frame(
        left=left,
        top=0,
        cols=max(grid.width - left - margin, 2),
        rows=max(grid.height - len(notes) - 2, 2),
        x_max=x_max if x_max > 0 else 1.0,
        y_low=y_low,
        y_high=y_high if y_high > y_low else y_low + 1.0,
    )
    _axes(grid, frame, y_ticks, y_labels, axis)
    for ref in progress.references:
        for c in range(frame.left, frame.left + frame.cols):
            grid.put(c, frame.row(ref.pgr), DASH, "reference")
    for mark, s in zip(AGENT_MARKS, series, strict=False):
        _steps(grid, frame, s, axis, LIGHT if per_agent else HEAVY, f"agent-{mark}" if per_agent else "best")
        if per_agent and s.steps:
            grid.put(frame.col(s.x(axis)), frame.row(s.steps[-1].pgr), mark, f"agent-{mark}")
    _points(grid, frame, progress, axis, per_agent)
    _margin(grid, frame, marks)
    if progress.empty:
        _centre(grid, frame.top + frame.rows // 2, "no scored submission yet: points come as the evaluator scores")
    return grid


def _axes(grid: Grid, frame: Frame, y_ticks: list[float], y_labels: list[str], axis: Axis) -> None:
    bottom = frame.top + frame.rows
    for r in range(frame.top, bottom):
        grid.put(frame.left - 1, r, "│", "axis")
    for value, text in zip(y_ticks, y_labels, strict=True):
        r = frame.row(value)
        grid.write(frame.left - 1 - len(text), r, text, "tick")
        grid.put(frame.left - 1, r, "┤", "axis")
    grid.put(frame.left - 1, bottom, "└", "axis")
    for c in range(frame.left, frame.left + frame.cols):
        grid.put(c, bottom, "─", "axis")
    labels: list[tuple[int, int, str]] = []
    used = -1
    for value in nice_ticks(0.0, frame.x_max, max(2, frame.cols // 10)):
        c = frame.col(value)
        text = axis_text(value, axis)
        start = max(frame.left - 1, c - len(text) // 2)
        if start > used + 1 and start + len(text) <= grid.width:
            labels.append((c, start, text))
            used = start + len(text)
    name = AXIS_NAMES[axis]
    name_at = max(used + 2, frame.left + frame.cols + 1)  # right of the plot, under the lines' labels
    if name_at + len(name) > grid.width:
        name_at = grid.width - len(name)
        while labels and labels[-1][1] + len(labels[-1][2]) >= name_at:
            labels.pop()
    for c, start, text in labels:
        grid.put(c, bottom, "┬", "axis")
        grid.write(start, bottom + 1, text, "tick")
    grid.write(name_at, bottom + 1, name, "tick")


def _steps(grid: Grid, frame: Frame, s: Series, axis: Axis, glyphs: dict[str, str], role: str) -> None:
    """A step line: level from each rise to the next, up at the next; the last level to the series' end."""
    for i, step in enumerate(s.steps):
        row = frame.row(step.pgr)
        start = frame.col(step_x(step, axis))
        following = s.steps[i + 1] if i + 1 < len(s.steps) else None
        end = frame.col(step_x(following, axis)) if following else frame.col(s.x(axis))
        for c in range(start, end + 1):
            grid.put(c, row, glyphs["h"], role)
        if following is not None:
            top = frame.row(following.pgr)
            if top < row:
                grid.put(end, row, glyphs["up"], role)
                for r in range(top + 1, row):
                    grid.put(end, r, glyphs["v"], role)
                grid.put(end, top, glyphs["top"], role)


def _points(grid: Grid, frame: Frame, progress: Progress, axis: Axis, per_agent: bool) -> None:
    marks = {s.name: m for m, s in zip(AGENT_MARKS, progress.agents, strict=False)}
    taken: dict[tuple[int, int], int] = {}
    for p in progress.points:
        if p.pgr is None:
            continue
        glyph, role = _mark(p, marks.get(p.agent, "?"), per_agent)
        cell = (frame.col(point_x(p, axis, own=per_agent)), frame.row(p.pgr))
        rank = PRIORITY["method" if role.startswith("agent-") else role]
        if taken.get(cell, -1) <= rank:
            taken[cell] = rank
            grid.put(*cell, glyph, role)


def _mark(p: ProgressPoint, agent_mark: str, per_agent: bool) -> tuple[str, str]:
    if p.verified and not p.counted:
        return NOT_COUNTED, "flagged"
    if not p.verified:
        return PREDICTIONS, f"agent-{agent_mark}" if per_agent else "predictions"
    return (agent_mark, f"agent-{agent_mark}") if per_agent else (METHOD, "method")


def _line_labels(progress: Progress, per_agent: bool) -> list[tuple[float, str, str]]:
    """``(pgr, text, role)`` of each horizontal line's label: the references, and the team's best."""
    out = [(r.pgr, f"{r.label[:11]} {r.pgr:.2f}", "reference") for r in progress.references]
    if not per_agent and progress.team.best_pgr is not None:
        out.append((progress.team.best_pgr, f"best {progress.team.best_pgr:.2f}", "best"))
    return out


def _margin(grid: Grid, frame: Frame, marks: list[tuple[float, str, str]]) -> None:
    """Each label at its line's row, or the nearest free row: two lines that share a row both keep a label,
    the lower value's below the higher's."""
    x = frame.left + frame.cols + 1
    used: set[int] = set()
    for value, text, role in sorted(marks, key=lambda m: -m[0]):
        want = frame.row(value)
        free = [r for r in range(frame.top, frame.top + frame.rows) if r not in used]
        if not free:
            return
        row = min(free, key=lambda r: (abs(r - want), -r))  # lower values come later: below on a tie
        used.add(row)
        grid.write(x, row, text[: grid.width - x], role)


def _centre(grid: Grid, row: int, text: str) -> None:
    text = text[: grid.width]
    grid.write(max(0, (grid.width - len(text)) // 2), row, text, "note")
