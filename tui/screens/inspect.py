"""One agent up close: its full transcript, each tool call and result, its tokens, its workspace files."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, RichLog, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from aar.store import MessageRow
from aar.store.rows import SnapshotRow
from tui.model import AgentView, Changes
from tui.renderables import data
from tui.screens.base import RunScreen
from tui.service import WorkspaceFile
from tui.text import dollars, tokens, visible
from tui.widgets.key_bar import KeyBar
from tui.widgets.lines import status_text
from tui.widgets.transcript import message_lines

STEP_HEADER = "── step "
"""How ``tui.widgets.transcript.message_lines`` starts a message."""
TRANSCRIPT_LINES = 5_000
"""Lines the transcript view keeps (the store keeps every message): each costs a render when written."""
WRITE_CHUNK = 100
"""Transcript lines written per frame; a long transcript fills in over a second while keys stay live."""
TRANSCRIPT_POLL_S = 1.0
FILE_LINES = 5_000
"""Lines of a workspace file shown (the first ones); the reader already stops at 256 KiB."""


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024**2 else f"{n / 1024**2:.1f} MiB"


async def _write_chunked(log: RichLog, lines: list[Text]) -> None:
    """Write ``WRITE_CHUNK`` lines per frame: thousands of lines at once would hold keys for seconds."""
    for start in range(0, len(lines), WRITE_CHUNK):
        for line in lines[start : start + WRITE_CHUNK]:
            log.write(line)
        await asyncio.sleep(0)


class InspectScreen(RunScreen):
    CSS_PATH = "inspect.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the agents", id="inspect.back"),
        Binding(
            "w", "reload_files", "Reload files", tooltip="List the agent's workspace files again", id="inspect.files"
        ),
        Binding(
            "v",
            "older_snapshot",
            "Snapshot",
            tooltip="The workspace as an earlier snapshot had it (again: an older one; after the oldest, as it is now)",
            id="inspect.snapshot",
        ),
        Binding(
            "B",
            "branch",
            "Branch",
            tooltip="A new agent from this transcript after the step at the top of the view, with your guidance",
            id="inspect.branch",
        ),
        Binding(
            "tab",
            "app.focus_next",
            "Switch pane",
            show=False,
            tooltip="Move between the transcript, the files and the file",
            id="inspect.switch",
        ),
    ]

    def __init__(self, view: AgentView) -> None:
        super().__init__()
        self.view = view
        self.last_message_id = 0
        self.files: list[WorkspaceFile] = []
        self.snapshot: SnapshotRow | None = None
        """The snapshot the workspace pane shows; None: the workspace as it is now."""
        self._loading: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="inspect-header")
        with Horizontal(id="inspect-body"):
            yield RichLog(id="transcript", max_lines=TRANSCRIPT_LINES + 1, wrap=True, markup=False, auto_scroll=True)
            with Vertical(id="workspace"):
                yield OptionList(id="file-list")
                yield RichLog(id="file-view", wrap=False, markup=False)  # bounded by FILE_LINES, and cleared per file
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#transcript").border_title = "transcript"
        self.query_one("#workspace").border_title = "workspace"
        self._header()
        self._poll_transcript()
        self.set_interval(TRANSCRIPT_POLL_S, self._poll_transcript, name="transcript")
        self.action_reload_files()

    def refresh_views(self, changes: Changes) -> None:
        """New activity of this agent: its counters changed (the transcript is read once a second)."""
        if self.view.name in changes.agents:
            self._header()

    def _header(self) -> None:
        row = self.view.row
        line = Text(end="")
        line.append_text(data(row.name, "bold"))
        line.append(" ")
        line.append_text(status_text(self.view.status, self))
        line.append_text(data(f" · {row.model} · {row.backend} · sandbox {row.isolation or '?'}", "dim"))
        line.append(
            f"\nstep {row.steps} · in {tokens(row.input_tokens)} · out {tokens(row.output_tokens)}"
            f" · cache read {tokens(row.cache_read_tokens)} · cache write {tokens(row.cache_write_tokens)}"
            f" · {dollars(row.cost_usd)}" + (" · approval on" if row.approval else "")
        )
        if row.direction:
            line.append_text(data("\n" + row.direction, "italic"))
        self.query_one("#inspect-header", Static).update(line)

    @property
    def transcript_loaded(self) -> bool:
        """At least one load has written everything it read."""
        return self._loading is not None and self._loading.is_finished and self.last_message_id > 0

    def _poll_transcript(self) -> None:
        # One load at a time: a long transcript is written over several frames, and a second load
        # started meanwhile would cancel the first halfway through its messages.
        if self._loading is None or self._loading.is_finished:
            self._loading = self.load_transcript()

    @work(group="transcript", exit_on_error=False)
    async def load_transcript(self) -> None:
        messages = await self.aar.client.transcript(self.view.name, after_id=self.last_message_id)
        await self._show_messages(messages)

    async def _show_messages(self, messages: list[MessageRow]) -> None:
        """Write the newest ``TRANSCRIPT_LINES`` lines of ``messages``, a chunk per frame so keys keep working."""
        log = self.query_one("#transcript", RichLog)
        fresh = [m for m in messages if m.id > self.last_message_id]
        newest: list[list[Text]] = []
        count = 0
        for message in reversed(fresh):
            if count >= TRANSCRIPT_LINES:
                break
            newest.append(message_lines(message))
            count += len(newest[-1])
        lines = [line for chunk in reversed(newest) for line in chunk]
        if fresh:  # only once laid out, so that a message that fails to lay out is read again, not skipped
            self.last_message_id = fresh[-1].id
        if len(lines) > TRANSCRIPT_LINES or len(newest) < len(fresh):
            log.write(Text("… earlier messages are not shown here; the store keeps them all", style="dim"))
            lines = lines[-TRANSCRIPT_LINES:]
        await _write_chunked(log, lines)
        if not self.last_message_id and not log.lines:
            log.write(Text("no messages yet", style="dim"))

    def step_shown(self) -> int:
        """The step at the top of the transcript view (its last step when the view follows the end)."""
        log = self.query_one("#transcript", RichLog)
        top = round(log.scroll_y)
        step = 0
        for y, strip in enumerate(log.lines):
            text = strip.text
            if text.startswith(STEP_HEADER):
                if y > top and step:
                    break
                step = step_of(text)
        return max(step, 0)

    def action_branch(self) -> None:
        from tui.screens.branch_dialog import ask_branch

        ask_branch(self, self.view.name, self.step_shown())

    @work(group="files", exclusive=True, exit_on_error=False)
    async def action_reload_files(self) -> None:
        await self._list_files()

    @work(group="files", exclusive=True, exit_on_error=False)
    async def action_older_snapshot(self) -> None:
        taken = await self.aar.client.snapshots_of(self.view.name)
        older = taken if self.snapshot is None else [s for s in taken if s.id < self.snapshot.id]
        self.snapshot = older[-1] if older else None
        if not taken:
            self.notify(f"{self.view.name} has no workspace snapshot yet", severity="warning", markup=False)
        await self._list_files()

    async def _list_files(self) -> None:
        client, shown = self.aar.client, self.snapshot
        pane = self.query_one("#workspace")
        if shown is None:
            self.files = await client.workspace_files(self.view.name)
            pane.border_title = "workspace"
        else:
            self.files = await client.snapshot_files(shown.id)
            pane.border_title = f"workspace · snapshot #{shown.id} after step {shown.step} ({shown.reason}) · v older"
        options = self.query_one("#file-list", OptionList)
        options.clear_options()
        options.add_options(Option(data(f"{f.path}  {_size(f.size)}"), id=f.path) for f in self.files)
        if self.files:
            options.highlighted = 0
        else:
            options.add_option(Option(Text("empty workspace", style="dim"), disabled=True))

    @on(OptionList.OptionSelected, "#file-list")
    def file_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.show_file(event.option.id)

    @work(group="file-view", exclusive=True, exit_on_error=False)
    async def show_file(self, path: str) -> None:
        shown = self.snapshot
        if shown is None:
            text = await self.aar.client.read_workspace_file(self.view.name, path)
        else:
            text = await self.aar.client.read_snapshot_file(shown.id, path)
        view = self.query_one("#file-view", RichLog)
        view.clear()
        view.border_title = data(path)
        lines = text.split("\n")
        await _write_chunked(view, [data(line) for line in lines[:FILE_LINES]])
        if len(lines) > FILE_LINES and shown is None:
            whole = self.aar.client.paths.workspace(self.view.name) / path
            # Wrapped, unlike the file's lines: the path must be readable in a narrow pane.
            view.write(
                Text(
                    visible(f"… {len(lines) - FILE_LINES:,} more lines not shown; the whole file is {whole}"),
                    style="dim",
                )
            )


def step_of(header: str) -> int:
    """The step a ``── step N ·`` header names; -1 for any other line."""
    number = header.removeprefix(STEP_HEADER).split(" ", 1)[0]
    return int(number) if number.isdigit() else -1
