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

from aar.commands import Branch, Command
from aar.errors import AarError
from aar.replay_steps import At, StepUnit
from tui.commands import AarCommands
from tui.keymap import load_keymap
from tui.messages import CommandSent, MomentLoaded, PollFailed, ReplayRequested, RunConnected, RunUpdated
from tui.model import Changes, ReplayMark, RunModel
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
        Binding("q", "detach", "Detach", tooltip="Leave the TUI; the run keeps going", id="app.detach"),
        Binding("L", "live", "Live", tooltip="Leave the replay: the run as it is now", id="replay.live"),
        Binding("comma", "replay_step('event', -1)", "-event", tooltip="The event before", id="replay.event-back"),
        Binding("full_stop", "replay_step('event', 1)", "+event", tooltip="The event after", id="replay.event-on"),
        Binding(
            "left_square_bracket", "replay_step('minute', -1)", "-min", tooltip="A minute back", id="replay.minute-back"
        ),
        Binding(
            "right_square_bracket", "replay_step('minute', 1)", "+min", tooltip="A minute on", id="replay.minute-on"
        ),
        Binding(
            "left_curly_bracket",
            "replay_step('submission', -1)",
            "-sub",
            tooltip="The submission before",
            id="replay.submission-back",
        ),
        Binding(
            "right_curly_bracket",
            "replay_step('submission', 1)",
            "+sub",
            tooltip="The submission after",
            id="replay.submission-on",
        ),
    ]
    REPLAY_ACTIONS = frozenset({"live", "replay_step"})
    """Actions that exist only while a past moment is shown."""
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        run_dir: Path,
        *,
        poll_interval: float = POLL_INTERVAL,
        keymap: Mapping[str, str] | None = None,
        at_event: int | None = None,
    ) -> None:
        """``keymap``: binding ids to keys (``tui.keymap.load_keymap`` reads the user's), over the defaults.
        ``at_event``: open on the replay of the run as it was at this event (``aar attach --at``)."""
        super().__init__()
        self.at_event = at_event
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
        self._generation = 0
        """Counts the moments shown (each replay jump, the return to live): a poll read for an earlier one is
        dropped, so a batch of the live run never lands on a replay."""

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
        if self.at_event is not None:
            self.post_message(ReplayRequested(self.at_event))
        else:
            self.open_digest_if_away()

    @work(group="digest", exit_on_error=False)
    async def open_digest_if_away(self) -> None:
        """After a long absence, the digest opens first (``tui.digest_after_min``)."""
        from tui.screens.digest import DigestScreen

        found = await self.client.away_digest()
        if found is not None:
            await self.push_screen(DigestScreen(found))

    def _tick(self) -> None:
        if self.model.replay is not None:
            return  # a replay shows one moment; nothing new is read until it goes back to live
        if not self._polling and self._client is not None and time.monotonic() >= self._retry_at:
            self._polling = True
            self.poll()

    @work(group="poll", exit_on_error=False)
    async def poll(self) -> None:
        generation = self._generation
        try:
            update = await self.client.poll()
        except Exception as exc:  # the store can be locked, moved or damaged; keep the screen and retry
            self.post_message(PollFailed(exc))
        else:
            if generation == self._generation:
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
        if self.model.replay is None:
            self._apply(message)

    # ------------------------------------------------------------ replay

    @on(ReplayRequested)
    def replay_requested(self, message: ReplayRequested) -> None:
        """Show the run as it was at an event: back on the main screen, with REPLAY in the status bar."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, MainScreen):
            self.pop_screen()
        self.show_moment(message.event_id)

    @work(group="moment", exclusive=True, exit_on_error=False)
    async def show_moment(self, event_id: int, ts: float | None = None) -> None:
        """Read the state at ``event_id`` (at ``ts``, when a step moved the time past it) and show it."""
        at = await self.client.at(event_id)
        update = await self.client.moment(at.event_id)
        self.post_message(MomentLoaded(update, ReplayMark(at.event_id, at.ts if ts is None else ts)))

    @work(group="moment", exclusive=True, exit_on_error=False)
    async def go_live(self) -> None:
        """The live run again: the backlog read afresh, then polls as on attach."""
        update = await self.client.live_backlog()
        self.post_message(MomentLoaded(update, None))

    @on(MomentLoaded)
    def moment_loaded(self, message: MomentLoaded) -> None:
        self._generation += 1
        changes = self.model.rewind()
        self.model.replay = message.mark
        self.client.replaying = message.mark is not None
        self.model.apply(message.update)
        if message.mark is None:
            self.notify("live again", markup=False)
        self._refresh_screens(changes)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The replay's keys are there only while a past moment is shown."""
        if action in self.REPLAY_ACTIONS:
            return self.model.replay is not None
        return True

    def action_live(self) -> None:
        self.go_live()

    @work(group="moment", exclusive=True, exit_on_error=False)
    async def action_replay_step(self, unit: StepUnit, direction: int) -> None:
        mark = self.model.replay
        if mark is None:
            return
        at = await self.client.step(At(mark.event_id, mark.ts), unit, direction)
        update = await self.client.moment(at.event_id)
        self.post_message(MomentLoaded(update, ReplayMark(at.event_id, at.ts)))

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
        surprise the supervisor when ``aar resume`` applies it later, so none is written. Nor is one
        written in a replay: the screen shows the past, and a command would act on the present; a branch alone
        is (it starts a new agent now from the past step shown, and the daemon says if the run has ended).
        """
        if isinstance(command, Branch):
            self._send(command, target)
            return
        if (mark := self.model.replay) is not None:
            self.notify(
                f"this is a replay (#{mark.event_id}), so {command.kind} is not sent; L goes back to live",
                severity="warning",
                markup=False,
            )
            return
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
        if isinstance(command, Branch):
            if not await self.client.daemon_alive():
                raise AarError(f"the run has no daemon to make the branch; `aar resume {self.model.run_id}` first")
            command_id = await self.client.branch(command, target)
        else:
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


def run_tui(run_dir: Path, *, at: str | None = None) -> int:
    """Attach a TUI to the run at ``run_dir`` and block until the user detaches; returns 0. ``at``: open on
    the replay of that moment (``3h``, ``2026-11-30T03:00``, ``event:123456``).

    A keymap file that cannot be used, or a moment the run does not have, is an error before the screen
    opens (the run, if any, goes on).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "run.db").is_file():
        raise AarError(f"no run store at {run_dir / 'run.db'}; `aar ls` lists the runs")
    keymap = load_keymap()
    at_event = asyncio.run(_resolve_at(run_dir, at)) if at else None
    result = AarApp(run_dir, keymap=keymap, at_event=at_event).run()
    return 0 if result is None else int(result)


async def _resolve_at(run_dir: Path, text: str) -> int:
    """The event id of the moment ``text`` names in the run at ``run_dir`` (one line of error otherwise)."""
    client = await RunClient.open(run_dir)
    try:
        return await client.resolve_at(text)
    finally:
        await client.store.close()
