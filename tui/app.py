"""The Textual app: attaches to one run's store, follows it, and writes the supervisor's commands.

``run_tui`` is what ``aar run`` and ``aar attach`` call. The app opens a
``RunClient`` in a worker, folds each polled batch into a ``RunModel`` and
tells the screens what changed. Polls run every ``poll_interval`` seconds and
never overlap, so a flood of events arrives in a few large batches and key
presses are handled between them. Once attached, everything alive (Textual,
the screens, the backlog) is frozen out of the garbage collector's full
passes, which otherwise stall the loop for tens of milliseconds while events
churn. Detaching (``q``) closes only the TUI; the
daemon keeps the run going.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from aar.commands import Command
from aar.errors import AarError
from tui.commands import AarCommands
from tui.keymap import load_keymap
from tui.messages import CommandSent, PollFailed, RunConnected, RunUpdated
from tui.model import Changes, RunModel
from tui.screens.main import MainScreen
from tui.service import NotAttached, RunClient
from tui.text import one_line

POLL_INTERVAL = 0.1
RETRY_MAX_S = 5.0
"""Longest wait between polls while the store cannot be read."""
ENDED_RUN = frozenset({"stopped", "finished", "crashed"})


class AarApp(App[int]):
    """The supervisor's control room for the run at ``run_dir``."""

    TITLE = "aar"
    CSS_PATH = "theme.tcss"
    COMMANDS = App.COMMANDS | {AarCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "detach", "Detach", tooltip="Leave the TUI; the run keeps going", id="app.detach")
    ]
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self, run_dir: Path, *, poll_interval: float = POLL_INTERVAL, keymap: Mapping[str, str] | None = None
    ) -> None:
        """``keymap``: binding ids to keys (``tui.keymap.load_keymap`` reads the user's), over the defaults."""
        super().__init__()
        if keymap:
            self.set_keymap(dict(keymap))
        self.run_dir = Path(run_dir)
        self.poll_interval = poll_interval
        self._client: RunClient | None = None
        self.model = RunModel(self.run_dir.name)
        self.run_changed: Signal[Changes] = Signal(self, "run-changed")
        """Published after each batch is folded into ``model`` (and when the store cannot be read)."""
        self.issued: dict[int, str] = {}
        """Commands this TUI sent, so their effects are announced here (other TUIs see them in the tails)."""
        self._polling = False
        self.polls = 0
        self.poll_failures = 0
        """Polls failed in a row; each doubles the wait before the next."""
        self._retry_at = 0.0

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.model))
        self.connect()

    async def on_unmount(self) -> None:
        if self._client is not None:
            await self._client.close()

    @property
    def main(self) -> MainScreen:
        """The main screen, wherever it is in the stack (the inbox jumps to an agent from above it)."""
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    @property
    def client(self) -> RunClient:
        """The open store; until the backlog is read there is none, and asking for it is an error the user reads."""
        if self._client is None:
            raise NotAttached("not attached to the run yet; try again in a moment")
        return self._client

    @property
    def has_client(self) -> bool:
        """Whether the store is open (``client`` can be used)."""
        return self._client is not None

    # ------------------------------------------------------------ following the store

    @work(group="connect", exclusive=True, exit_on_error=False)
    async def connect(self) -> None:
        """Open the store and read the backlog; while the store cannot be read, say so and retry with backoff."""
        while True:
            client: RunClient | None = None
            try:
                client = await RunClient.open(self.run_dir)
                self.post_message(RunConnected(client, await client.backlog()))
                return
            except Exception as exc:  # locked, damaged or being migrated: the same as a failed poll
                if client is not None:
                    await client.close()
                self.post_message(PollFailed(exc))
                await asyncio.sleep(self._backoff(self.poll_failures + 1))

    def _backoff(self, failures: int) -> float:
        return min(self.poll_interval * 2.0 ** min(failures, 8), RETRY_MAX_S)

    @on(RunConnected)
    def connected(self, message: RunConnected) -> None:
        self._client = message.client
        info = message.client.info
        self.model.run_id, self.model.dollar_cap, self.model.device = info.run_id, info.dollar_cap, info.device
        self.model.devices = info.devices
        self._apply(message)
        self.call_after_refresh(gc.freeze)
        self.set_interval(self.poll_interval, self._tick, name="poll")
        self.open_digest_if_away()

    @work(group="digest", exit_on_error=False)
    async def open_digest_if_away(self) -> None:
        """After a long absence, the digest opens first (``tui.digest_after_min``)."""
        from tui.screens.digest import DigestScreen

        found = await self.client.away_digest()
        if found is not None:
            await self.push_screen(DigestScreen(found))

    def _tick(self) -> None:
        if not self._polling and self._client is not None and time.monotonic() >= self._retry_at:
            self._polling = True
            self.poll()

    @work(group="poll", exit_on_error=False)
    async def poll(self) -> None:
        try:
            update = await self.client.poll()
        except Exception as exc:  # the store can be locked, moved or damaged; keep the screen and retry
            self.post_message(PollFailed(exc))
        else:
            self.post_message(RunUpdated(update))
        finally:
            self._polling = False

    @on(PollFailed)
    def poll_failed(self, message: PollFailed) -> None:
        """Say so once, in a toast and in the status bar, then retry ever more slowly (up to every few seconds)."""
        self.poll_failures += 1
        self._retry_at = time.monotonic() + self._backoff(self.poll_failures)
        problem = f"cannot read the run store: {type(message.error).__name__}: {message.error}"
        if self.model.problem is None:
            self.notify(f"{problem}; retrying", severity="error", markup=False, timeout=10)
        self.model.problem = problem
        self._refresh_screens(Changes(status=True))

    @on(RunUpdated)
    def updated(self, message: RunUpdated) -> None:
        self._apply(message)

    def _apply(self, message: RunUpdated | RunConnected) -> None:
        if self.model.problem is not None:
            self.model.problem = None
            self.poll_failures = 0
            self.notify("reading the run store again", markup=False)
            self._refresh_screens(Changes(status=True))
        was = self.model.state
        changes = self.model.apply(message.update)
        self.polls += 1
        if self.model.state == "crashed" and was != "crashed":
            self.notify(
                f"the run's daemon is gone (no process holds its lock); `aar resume {self.model.run_id}` continues from the store",
                severity="error",
                markup=False,
                timeout=30,
            )
        for applied in changes.applied:
            if self.issued.pop(applied.command_id, None) is not None:
                text = one_line(f"{applied.command} {applied.target}: {applied.effect}", 300)
                rejected = applied.status == "rejected"
                self.notify(text, title=applied.status, severity="warning" if rejected else "information", markup=False)
        self._refresh_screens(changes)

    def _refresh_screens(self, changes: Changes) -> None:
        self.run_changed.publish(changes)

    # ------------------------------------------------------------ commands

    def send_command(self, command: Command, target: str) -> None:
        """Write a supervisor command from a worker; ``CommandSent`` says when it is in the store.

        A run that has ended has no daemon to apply it, and a command left pending would
        surprise the supervisor when ``aar resume`` applies it later, so none is written.
        """
        if self.model.state in ENDED_RUN:
            self.notify(
                f"the run is {self.model.state}, so nothing would apply {command.kind};"
                f" `aar resume {self.model.run_id}` continues it",
                severity="warning",
                markup=False,
            )
            return
        self._send(command, target)

    @work(group="commands", exit_on_error=False)
    async def _send(self, command: Command, target: str) -> None:
        command_id = await self.client.command(command, target)
        self.post_message(CommandSent(command_id, command.kind, target))

    @on(CommandSent)
    def command_sent(self, message: CommandSent) -> None:
        self.issued[message.command_id] = message.kind
        self.notify(f"{message.kind} → {message.target} (command {message.command_id})", title="sent", markup=False)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """Every worker's failure ends here as one line: what went wrong, not a traceback."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, AarError) else f"{event.worker.group}: {type(error).__name__}: {error}"
        self.notify(text, severity="error", markup=False, timeout=10)

    def action_detach(self) -> None:
        """Leave the run going; ``aar attach`` comes back to it."""
        self.exit(0)


def run_tui(run_dir: Path) -> int:
    """Attach a TUI to the run at ``run_dir`` and block until the user detaches; returns 0.

    A keymap file that cannot be used is an error before the screen opens (the run, if any, goes on).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "run.db").is_file():
        raise AarError(f"no run store at {run_dir / 'run.db'}; `aar ls` lists the runs")
    result = AarApp(run_dir, keymap=load_keymap()).run()
    return 0 if result is None else int(result)
