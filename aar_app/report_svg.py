"""The progress chart as an SVG image, written by hand (no plotting library): ``aar report`` links it from
the markdown and inlines it in the HTML page.

Three panels: the team's best verified PGR over agent-hours, the same over dollars, and each agent's own
best in its own agent-hours. Marks differ by shape as well as colour (a printout in grey still reads): a
verified method is a filled disc, a prediction file a ring, a method that does not count a cross, the best
a thick step line, a reference a dashed line with its label. Every text an agent wrote (a file name in a
point's tooltip) is one line with its controls spelled out, then XML-escaped. The image loads nothing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from aar.escape import one_line
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

WIDTH = 760
PANEL_HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 52, 150, 46, 40
AGENT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
BEST = "#2a9d5c"
METHOD = "#e07b00"
PREDICTIONS = "#3b6fb6"
NOT_COUNTED = "#c0392b"
REFERENCE = "#b8860b"
FONT = "font-family:sans-serif;font-size:11px"


def esc(text: str, limit: int = 200) -> str:
    """Agent text for an SVG or HTML document: one line, controls spelled out, then escaped."""
    return html.escape(one_line(text, limit), quote=True)


@dataclass(frozen=True)
class Panel:
    """One chart: where it sits on the page, and the ranges it spans."""

    top: float
    x_max: float
    y_low: float
    y_high: float

    @property
    def plot_width(self) -> float:
        return WIDTH - LEFT - RIGHT

    @property
    def plot_height(self) -> float:
        return PANEL_HEIGHT - TOP - BOTTOM

    def x(self, value: float) -> float:
        return round(LEFT + min(max(value / self.x_max, 0.0), 1.0) * self.plot_width, 1)

    def y(self, value: float) -> float:
        clamped = min(max(value, self.y_low), self.y_high)
        return round(self.top + TOP + (self.y_high - clamped) / (self.y_high - self.y_low) * self.plot_height, 1)


def chart_svg(progress: Progress) -> str:
    """The three panels in one SVG document."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{3 * PANEL_HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {3 * PANEL_HEIGHT}" role="img" aria-label="progress chart">',
        f'<rect width="{WIDTH}" height="{3 * PANEL_HEIGHT}" fill="#ffffff"/>',
    ]
    panels: list[tuple[str, Axis, bool]] = [
        ("team: best verified PGR over agent-hours", "hours", False),
        ("team: best verified PGR over dollars", "usd", False),
        ("each agent: its own best verified PGR over its own agent-hours", "hours", True),
    ]
    for i, (title, axis, per_agent) in enumerate(panels):
        parts += _panel(progress, title, axis, per_agent, i * PANEL_HEIGHT)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(progress: Progress, title: str, axis: Axis, per_agent: bool, top: float) -> list[str]:
    series = progress.agents if per_agent else [progress.team]
    x_max = max([s.x(axis) for s in series] + [point_x(p, axis, own=per_agent) for p in progress.points] + [0.0])
    low, high = pgr_range(progress)
    panel = Panel(top=top, x_max=x_max if x_max > 0 else 1.0, y_low=low, y_high=high if high > low else low + 1)
    out = [
        f'<g class="panel"><text x="{LEFT}" y="{top + 18}" style="{FONT};font-size:13px;font-weight:bold">'
        f"{html.escape(title)}</text>"
    ]
    out.append(
        f'<text x="{LEFT}" y="{top + 36}" style="{FONT}" fill="#555">'
        "● verified method  ○ prediction file  × not counted  ━ best  ╌ reference</text>"
    )
    out += _axes(panel, axis)
    for ref in progress.references:
        y = panel.y(ref.pgr)
        out.append(
            f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + panel.plot_width}" y2="{y}" stroke="{REFERENCE}"'
            ' stroke-width="1.2" stroke-dasharray="6 4"/>'
        )
    labels = [(r.pgr, f"{r.label} {r.pgr:.2f}", REFERENCE) for r in progress.references]
    for i, s in enumerate(series):
        colour = AGENT_COLOURS[i % len(AGENT_COLOURS)] if per_agent else BEST
        out += _steps(panel, s, axis, colour, thick=not per_agent)
        if s.best_pgr is not None:
            labels.append((s.best_pgr, f"{s.name if per_agent else 'best'} {s.best_pgr:.2f}", colour))
    colours = {s.name: AGENT_COLOURS[i % len(AGENT_COLOURS)] for i, s in enumerate(progress.agents)}
    for p in progress.points:
        if p.pgr is not None:
            out.append(_point(panel, p, axis, per_agent, colours.get(p.agent, METHOD)))
    out += _labels(panel, labels)
    if progress.empty:
        out.append(
            f'<text x="{LEFT + panel.plot_width / 2}" y="{top + TOP + panel.plot_height / 2}" text-anchor="middle"'
            f' style="{FONT};font-size:13px;font-style:italic" fill="#666">no scored submission yet</text>'
        )
    out.append("</g>")
    return out


def _axes(panel: Panel, axis: Axis) -> list[str]:
    bottom = panel.top + TOP + panel.plot_height
    right = LEFT + panel.plot_width
    out = [
        f'<line x1="{LEFT}" y1="{panel.top + TOP}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>',
    ]
    for value in nice_ticks(panel.y_low, panel.y_high, 6):
        y = panel.y(value)
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" style="{FONT}">{value:.1f}</text>')
    for value in nice_ticks(0.0, panel.x_max, 7):
        x = panel.x(value)
        out.append(f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}" stroke="#444"/>')
        out.append(
            f'<text x="{x}" y="{bottom + 16}" text-anchor="middle" style="{FONT}">'
            f"{html.escape(axis_text(value, axis))}</text>"
        )
    out.append(
        f'<text x="{right}" y="{bottom + 32}" text-anchor="end" style="{FONT}">{AXIS_NAMES[axis]}</text>'
        f'<text x="14" y="{panel.top + TOP + panel.plot_height / 2}" style="{FONT}" text-anchor="middle"'
        f' transform="rotate(-90 14 {panel.top + TOP + panel.plot_height / 2})">PGR</text>'
    )
    return out


def _steps(panel: Panel, s: Series, axis: Axis, colour: str, *, thick: bool) -> list[str]:
    if not s.steps:
        return []
    first = s.steps[0]
    path = [f"M{panel.x(step_x(first, axis))},{panel.y(first.pgr)}"]
    for step in s.steps[1:]:
        path.append(f"H{panel.x(step_x(step, axis))}V{panel.y(step.pgr)}")
    path.append(f"H{panel.x(s.x(axis))}")
    width = 2.5 if thick else 1.6
    return [
        f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="{width}"'
        f' class="best" data-series="{esc(s.name, 40)}"/>'
    ]


def _point(panel: Panel, p: ProgressPoint, axis: Axis, per_agent: bool, agent_colour: str) -> str:
    x, y = panel.x(point_x(p, axis, own=per_agent)), panel.y(p.pgr if p.pgr is not None else 0.0)
    ci = f" [{p.ci_low:.3f}, {p.ci_high:.3f}]" if p.ci_low is not None and p.ci_high is not None else ""
    tip = f"#{p.submission_id} {p.agent} {p.kind} {p.label}: PGR {p.pgr:.3f}{ci}"
    if p.why_not:
        tip += f" (not counted: {p.why_not})"
    title = f"<title>{esc(tip, 300)}</title>"
    if p.verified and not p.counted:
        d = 4
        return (
            f'<g class="point not-counted" stroke="{NOT_COUNTED}" stroke-width="2">{title}'
            f'<line x1="{x - d}" y1="{y - d}" x2="{x + d}" y2="{y + d}"/>'
            f'<line x1="{x - d}" y1="{y + d}" x2="{x + d}" y2="{y - d}"/></g>'
        )
    colour = agent_colour if per_agent else (METHOD if p.verified else PREDICTIONS)
    if not p.verified:
        return (
            f'<circle class="point predictions" cx="{x}" cy="{y}" r="3.5" fill="#fff" stroke="{colour}"'
            f' stroke-width="1.5">{title}</circle>'
        )
    return f'<circle class="point method" cx="{x}" cy="{y}" r="4" fill="{colour}">{title}</circle>'


def _labels(panel: Panel, labels: list[tuple[float, str, str]]) -> list[str]:
    """The horizontal lines' labels right of the plot, nudged apart where two lines are close."""
    out = []
    placed: list[float] = []
    for value, text, colour in sorted(labels, key=lambda item: -item[0]):
        y = panel.y(value) + 4
        while any(abs(y - other) < 12 for other in placed):
            y += 12
        placed.append(y)
        out.append(
            f'<text x="{LEFT + panel.plot_width + 6}" y="{y}" style="{FONT}" fill="{colour}">{esc(text, 40)}</text>'
        )
    return out
