"""Progress: the best verified PGR over agent-hours or dollars, for the team or per agent (``aar.progress``).

``C`` on the main screen opens it; ``x`` switches the x axis between agent-hours and dollars, ``a`` between
the team's best and each agent's own (in its own hours and dollars), Escape goes back. The series are read
from the store in a worker, again whenever new scores arrive; the chart itself is drawn by
``tui.widgets.progress_chart``. A label an agent wrote reaches the screen escaped, never as markup.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from aar.progress import Progress
from tui.model import Changes
from tui.renderables import data
from tui.screens.base import RunScreen
from tui.text import dollars
from tui.widgets.key_bar import KeyBar
from tui.widgets.progress_chart import ProgressChart


def title(progress: Progress | None, per_agent: bool) -> Text:
    """``team · best verified PGR 0.450 (#7 agent-1) · 12.5 agent-hours · $41.20``: fits 80 columns (the chart
    names its x axis)."""
    out = Text("each agent" if per_agent else "team", style="bold", end="")
    out.append(" · ")
    if progress is None:
        out.append("reading the run…")
        return out
    team = progress.team
    if team.best_pgr is None:
        out.append("no verified method counts yet")
    else:
        step = team.steps[-1]
        out.append(f"best verified PGR {team.best_pgr:.3f} ")
        out.append_text(data(f"(#{step.submission_id} {step.agent})"))
    out.append(f" · {team.hours:.1f} agent-hours · {dollars(team.usd)}")
    return out


class ChartScreen(RunScreen):
    CSS_PATH = "chart.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,C", "app.pop_screen", "Back", tooltip="Back to the agents", id="chart.back"),
        Binding(
            "x",
            "toggle_axis",
            "Hours/$",
            tooltip="Progress over agent-hours, or over dollars spent",
            id="chart.axis",
        ),
        Binding(
            "a",
            "toggle_agents",
            "Team/agents",
            tooltip="The team's best verified PGR, or each agent's own in its own hours and dollars",
            id="chart.agents",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.progress: Progress | None = None
        self.loads = 0
        """How many times the series were read (the tests wait on it)."""

    def compose(self) -> ComposeResult:
        yield Static(id="chart-title")
        yield ProgressChart(id="chart")
        yield KeyBar()

    def on_mount(self) -> None:
        self._show()
        self.load()

    def refresh_views(self, changes: Changes) -> None:
        """New scores move the curve."""
        if changes.board:
            self.load()

    @work(group="chart", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        self.progress = await self.aar.client.progress()
        self.loads += 1
        self._show()

    @property
    def chart(self) -> ProgressChart:
        return self.query_one(ProgressChart)

    def action_toggle_axis(self) -> None:
        self.chart.axis = "usd" if self.chart.axis == "hours" else "hours"
        self._show()

    def action_toggle_agents(self) -> None:
        self.chart.per_agent = not self.chart.per_agent
        self._show()

    def _show(self) -> None:
        chart = self.chart
        chart.progress = self.progress
        self.query_one("#chart-title", Static).update(title(self.progress, chart.per_agent))
