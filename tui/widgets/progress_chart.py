"""The progress chart as a widget: ``tui.chart_layout``'s grid of glyphs, each styled by its role.

The roles are component classes coloured from the theme's variables; with NO_COLOR the colours go and the
glyphs still tell every mark apart. Each agent of the per-agent view takes one of a few colours in turn
(its number, not its colour, says whose line it is).
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from aar.progress import Axis, Progress
from tui.chart_layout import AGENT_MARKS, layout

ROLES = ("axis", "tick", "best", "method", "predictions", "flagged", "reference", "label", "note")
AGENT_COLOURS = 6
"""Colours the per-agent view cycles through."""
_PLAIN = Style()


class ProgressChart(Widget):
    """Best verified PGR over agent-hours or dollars, for the team or per agent, with its points and lines."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"progress-chart--{role}" for role in ROLES),
        *(f"progress-chart--agent-{i}" for i in range(AGENT_COLOURS)),
    }
    DEFAULT_CSS = """
    ProgressChart {
        height: 1fr;
        padding: 0 1;
    }
    ProgressChart > .progress-chart--axis { color: $text-muted; }
    ProgressChart > .progress-chart--tick { color: $text-muted; }
    ProgressChart > .progress-chart--best { color: $success; text-style: bold; }
    ProgressChart > .progress-chart--method { color: $accent; text-style: bold; }
    ProgressChart > .progress-chart--predictions { color: $secondary; }
    ProgressChart > .progress-chart--flagged { color: $error; text-style: bold; }
    ProgressChart > .progress-chart--reference { color: $warning; }
    ProgressChart > .progress-chart--label { color: $text-muted; }
    ProgressChart > .progress-chart--note { color: $text-muted; text-style: italic; }
    ProgressChart > .progress-chart--agent-0 { color: $primary; }
    ProgressChart > .progress-chart--agent-1 { color: $accent; }
    ProgressChart > .progress-chart--agent-2 { color: $success; }
    ProgressChart > .progress-chart--agent-3 { color: $warning; }
    ProgressChart > .progress-chart--agent-4 { color: $secondary; }
    ProgressChart > .progress-chart--agent-5 { color: $error; }
    """

    progress: reactive[Progress | None] = reactive(None)
    axis: reactive[Axis] = reactive("hours")
    per_agent: reactive[bool] = reactive(False)

    def render(self) -> RenderResult:
        width, height = self.content_size
        grid = layout(self.progress, self.axis, self.per_agent, width, height)
        styles: dict[str, Style] = {}
        out = Text(no_wrap=True, overflow="crop", end="")
        for y, row in enumerate(grid.cells):
            if y:
                out.append("\n")
            run, role = "", "plain"
            for glyph, cell_role in [*row, ("", "")]:  # the sentinel ends the last run
                if cell_role != role and run:
                    if role not in styles:
                        styles[role] = self._style(role)
                    out.append(run, styles[role])
                    run = ""
                run, role = run + glyph, cell_role
        return out

    def _style(self, role: str) -> Style:
        if role == "plain":
            return _PLAIN
        if role.startswith("agent-"):
            index = AGENT_MARKS.find(role.removeprefix("agent-"))
            role = f"agent-{max(index, 0) % AGENT_COLOURS}"
        return self.get_component_rich_style(f"progress-chart--{role}", partial=True)
