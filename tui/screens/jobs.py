"""The evaluator's devices and queue: each device with its job and progress, then every job, newest first."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from aar.store import JobRow
from tui.model import Changes
from tui.renderables import data
from tui.screens.base import RunScreen
from tui.text import one_line, throughput_line
from tui.widgets.key_bar import KeyBar

REFRESH_S = 1.0
STATUS_STYLES = {"running": "bold cyan", "queued": "", "done": "green", "failed": "bold red"}


class JobsScreen(RunScreen):
    CSS_PATH = "jobs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,e", "app.pop_screen", "Back", tooltip="Back to the agents", id="jobs.back")
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="jobs-title")
        yield Static(id="jobs-devices")
        yield DataTable(id="jobs", cursor_type="row")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("id", "kind", "sub", "status", "tries", "progress", "device", "detail")
        table.focus()
        self.load()
        self.set_interval(REFRESH_S, self.load, name="jobs")

    def refresh_views(self, changes: Changes) -> None:
        if changes.status:
            self.query_one("#jobs-title", Static).update(self._title())

    def _title(self) -> str:
        m = self.aar.model
        q = m.queue
        if len(m.devices) > 1:
            busy = f"{min(q.running, len(m.devices))}/{len(m.devices)} devices busy"
            return f"evaluator · {busy} · {q.queued} queued · {q.failed} failed"
        device = f" · device {m.device}" if m.device else ""
        return f"evaluator · {q.running} running · {q.queued} queued · {q.failed} failed{device}"

    @work(group="jobs", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        jobs = await self.aar.client.jobs()
        agents = await self.aar.client.submission_agents()
        cluster = await self.aar.client.cluster()
        # On a Ray cluster the devices are where the running jobs are (``cpu@3f2a9c1e``), not the local pool.
        devices = device_lines(self.aar.model.devices if cluster is None else (), jobs, agents)
        if cluster is not None:
            devices = Text("\n").join([*(data(line) for line in cluster.lines()), devices])
        self.query_one("#jobs-devices", Static).update(devices)
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
                data(_where(job)),
                _detail(job),
            )
        if jobs:
            table.move_cursor(row=min(cursor, len(jobs) - 1))
        else:
            table.add_row(Text("no jobs yet", style="dim"))
        self.query_one("#jobs-title", Static).update(self._title())


def _where(job: JobRow) -> str:
    """The job's device and, once an attempt finished, the device time it took (GPU-seconds on a GPU)."""
    where, s = job.device or job.worker, job.device_s
    if not s:
        return where
    took = f"{s:.2f}s" if s < 1 else f"{s:.1f}s" if s < 10 else f"{s:.0f}s" if s < 3600 else f"{s / 3600:.1f}h"
    return f"{where} {took}"


def _detail(job: JobRow) -> Text:
    """The job's error, else its step and, once it trained, its throughput (one column, so 80 columns fit)."""
    if job.error:
        return data(one_line(job.error, 120), "red")
    text = " · ".join(part for part in (one_line(job.detail, 120), throughput_line(job.stats)) if part)
    return data(text, "dim")


def device_lines(devices: tuple[str, ...], jobs: list[JobRow], agents: dict[int, str]) -> Text:
    """One line per device (its job, progress and step), then the queue by agent."""

    def owner(job: JobRow) -> str:
        return agents.get(job.submission_id, "?") if job.submission_id is not None else "evaluator"

    running = {j.device: j for j in jobs if j.status == "running"}
    names = list(devices) or sorted(running)
    width = max((len(d) for d in names), default=0)
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for device in names:
        out.append(f"{device:<{width}}  ", style="bold")
        job = running.get(device)
        if job is None:
            out.append("idle\n", style="dim")
            continue
        out.append(f"#{job.id} {job.kind} ")
        out.append_text(data(owner(job)))
        out.append(f" {job.progress:>4.0%} ", style="bold cyan")
        out.append_text(data(one_line(job.detail, 100), "dim"))
        out.append("\n")
    waiting: dict[str, int] = {}
    for job in reversed(jobs):  # oldest first: the queue in the order it was filled
        if job.status == "queued":
            waiting[owner(job)] = waiting.get(owner(job), 0) + 1
    out.append(f"{'queue':<{width}}  ", style="bold")
    if waiting:
        out.append(f"{sum(waiting.values())} waiting: ")
        for i, (agent, n) in enumerate(waiting.items()):
            out.append(" · " if i else "")
            out.append_text(data(agent))
            out.append(f" {n}")
    else:
        out.append("empty", style="dim")
    return out
