"""The evaluator's queue: baselines, submission scoring and method verification, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.model import Changes
from tui.text import data, one_line
from tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from tui.app import AarApp

REFRESH_S = 1.0
STATUS_STYLES = {"running": "bold cyan", "queued": "", "done": "green", "failed": "bold red"}


class JobsScreen(Screen[None]):
    CSS_PATH = "jobs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,e", "app.pop_screen", "Back", id="jobs.back")]

    @property
    def aar(self) -> AarApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="jobs-title")
        yield DataTable(id="jobs", cursor_type="row")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("id", "kind", "sub", "status", "tries", "progress", "worker", "throughput", "detail")
        table.focus()
        self.load()
        self.set_interval(REFRESH_S, self.load, name="jobs")

    def refresh_views(self, changes: Changes) -> None:
        if changes.status:
            self.query_one("#jobs-title", Static).update(self._title())

    def _title(self) -> str:
        q = self.aar.model.queue
        device = f" · device {self.aar.model.device}" if self.aar.model.device else ""
        return f"evaluator · {q.running} running · {q.queued} queued · {q.failed} failed{device}"

    @work(group="jobs", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        assert self.aar.client is not None
        jobs = await self.aar.client.jobs()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for job in jobs:
            table.add_row(
                Text(str(job.id)),
                data(job.kind),
                Text("" if job.submission_id is None else str(job.submission_id)),
                Text(job.status, style=STATUS_STYLES.get(job.status, "")),
                Text(str(job.attempts)),
                Text(f"{job.progress:.0%}"),
                data(job.worker),
                data(job.throughput),
                data(one_line(job.error or job.detail, 120), "red" if job.error else "dim"),
            )
        if jobs:
            table.move_cursor(row=min(cursor, len(jobs) - 1))
        else:
            table.add_row(Text("no jobs yet", style="dim"))
        self.query_one("#jobs-title", Static).update(self._title())
