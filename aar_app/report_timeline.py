"""The run's timeline (``aar.timeline``) as an SVG lane strip for the HTML report, written by hand.

One lane per agent (and the run's own), over wall time from the run's first event to its last. Each mark
is a shape of its own: a verified method a filled disc coloured by its PGR, a prediction file a ring, a
post a square, a flag or monitor action a triangle, a supervisor's control a bar, an error a cross, a
budget event a diamond; each has its label as a tooltip (already one escaped line, escaped again for XML).
Where a run has thousands of marks, each lane keeps one per pixel column, the highest-ranked.
"""

from __future__ import annotations

import html

from aar.progress import nice_ticks
from aar.timeline import RANK, Mark, Timeline
from aar_app.report_svg import esc

WIDTH = 760
LEFT, RIGHT, TOP, LANE, BOTTOM = 90, 20, 40, 26, 36
FONT = "font-family:sans-serif;font-size:11px"
COLOURS = {
    "post": "#3b6fb6",
    "flag": "#c0392b",
    "control": "#555555",
    "error": "#000000",
    "budget": "#b8860b",
}
LEGEND = "● method (colour: PGR)  ○ prediction file  ■ post  ▲ flag / monitor  ▮ control  × error  ◆ budget"


def pgr_colour(pgr: float | None) -> str:
    """Red at PGR 0 or below, through yellow, to green at 1; grey while unscored."""
    if pgr is None:
        return "#9a9a9a"
    t = min(max(pgr, 0.0), 1.0)
    red, green = (220, int(60 + 300 * t)) if t < 0.5 else (int(220 - 300 * (t - 0.5)), 190)
    return f"#{min(red, 255):02x}{min(green, 255):02x}40"


def timeline_svg(timeline: Timeline) -> str:
    """The lanes in one SVG document."""
    height = TOP + LANE * max(len(timeline.lanes), 1) + BOTTOM
    span = max(timeline.end - timeline.start, 1.0)
    plot = WIDTH - LEFT - RIGHT

    def x(ts: float) -> float:
        return round(LEFT + min(max((ts - timeline.start) / span, 0.0), 1.0) * plot, 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
        ' role="img" aria-label="timeline">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="16" style="{FONT};font-size:13px;font-weight:bold">timeline: one lane per agent</text>',
        f'<text x="{LEFT}" y="31" style="{FONT}" fill="#555">{html.escape(LEGEND)}</text>',
    ]
    for i, found in enumerate(timeline.lanes):
        y = TOP + i * LANE + LANE / 2
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + plot}" y2="{y}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end" style="{FONT}">{esc(found.name, 24)}</text>')
        shown: dict[int, Mark] = {}
        for mark in found.marks:
            column = int(x(mark.ts))
            if column not in shown or RANK[mark.kind] >= RANK[shown[column].kind]:
                shown[column] = mark
        out += [_mark(x(m.ts), y, m) for m in shown.values()]
    bottom = TOP + LANE * max(len(timeline.lanes), 1)
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{LEFT + plot}" y2="{bottom}" stroke="#444"/>')
    hours = span / 3600
    for value in nice_ticks(0.0, hours, 7):
        tx = x(timeline.start + value * 3600)
        out.append(f'<line x1="{tx}" y1="{bottom}" x2="{tx}" y2="{bottom + 4}" stroke="#444"/>')
        out.append(f'<text x="{tx}" y="{bottom + 16}" text-anchor="middle" style="{FONT}">{value:g}h</text>')
    out.append(
        f'<text x="{LEFT + plot}" y="{bottom + 30}" text-anchor="end" style="{FONT}">hours since the run began</text>'
    )
    if not any(found.marks for found in timeline.lanes):
        out.append(
            f'<text x="{LEFT + plot / 2}" y="{TOP + 16}" text-anchor="middle" style="{FONT}">no marks yet</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _mark(x: float, y: float, mark: Mark) -> str:
    title = f"<title>{esc(mark.label, 300)}</title>"
    kind = f'class="mark {mark.kind}"'
    colour = COLOURS.get(mark.kind, "#555")
    if mark.kind == "submission":
        fill = pgr_colour(mark.pgr)
        if mark.submission_kind == "method":
            return f'<circle {kind} cx="{x}" cy="{y}" r="5" fill="{fill}" stroke="#333">{title}</circle>'
        return f'<circle {kind} cx="{x}" cy="{y}" r="4" fill="#fff" stroke="{fill}" stroke-width="2">{title}</circle>'
    if mark.kind == "post":
        return f'<rect {kind} x="{x - 3}" y="{y - 3}" width="6" height="6" fill="{colour}">{title}</rect>'
    if mark.kind == "flag":
        points = f"{x},{y - 6} {x - 5},{y + 4} {x + 5},{y + 4}"
        return f'<polygon {kind} points="{points}" fill="{colour}">{title}</polygon>'
    if mark.kind == "control":
        return f'<rect {kind} x="{x - 1.5}" y="{y - 7}" width="3" height="14" fill="{colour}">{title}</rect>'
    if mark.kind == "budget":
        points = f"{x},{y - 5} {x + 5},{y} {x},{y + 5} {x - 5},{y}"
        return f'<polygon {kind} points="{points}" fill="{colour}">{title}</polygon>'
    return (
        f'<g {kind} stroke="{colour}" stroke-width="2">{title}<line x1="{x - 4}" y1="{y - 4}" x2="{x + 4}"'
        f' y2="{y + 4}"/><line x1="{x - 4}" y1="{y + 4}" x2="{x + 4}" y2="{y - 4}"/></g>'
    )
