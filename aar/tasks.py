"""The daemon's background tasks under one supervisor: a failure is seen, and either retried or the run's end.

Each task (the team, the evaluator service, the monitors, the inbox builder,
the command poller, the headless printer) is started through
``TaskSupervisor.start`` with a policy:

- ``Restart``: start it again after a backoff that doubles with each failure
  in ``window_s`` (up to ``max_backoff_s``); more than ``max_restarts``
  failures in that window escalate, and the run ends as ``crashed``.
- ``Crash``: the first failure ends the run as ``crashed``, with the failure
  as its reason.

Every failure is an ``error`` event (so an inbox item) that names the task
and what it raised. A task that returns is done; one that fails once the run
is stopping is recorded, not restarted. ``close`` cancels what is still
running and records, never swallows, what each raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aar.clock import SYSTEM_CLOCK, Clock
from aar.disk import DiskSignal, is_disk_full
from aar.errors import AarError
from aar.escape import one_line
from aar.events import ErrorRaised, EventPayload

log = logging.getLogger("aar.tasks")

REASON_CHARS = 300
FULL_DISK_RETRY_S = 1.0
"""A task that met a full disk starts again this long after the disk guard looked (its ballast freed room)."""


@dataclass(frozen=True)
class Restart:
    """Start the task again after each failure, waiting ``backoff_s`` doubled per recent failure."""

    backoff_s: float = 1.0
    """The wait before the first restart."""
    max_backoff_s: float = 30.0
    """The longest wait between two starts."""
    max_restarts: int = 5
    """More failures than this within ``window_s`` end the run as crashed."""
    window_s: float = 600.0
    """Seconds over which failures are counted (older ones are forgiven)."""


@dataclass(frozen=True)
class Crash:
    """The first failure ends the run as crashed."""


Policy = Restart | Crash
CRASH = Crash()


class EmitsEvents(Protocol):
    def emit(self, agent: str | None, payload: EventPayload) -> None: ...


def describe(exc: BaseException) -> str:
    """``KeyError: 'x'``: an exception on one line; an ``AarError`` is its message alone (it says what to do)."""
    text = str(exc)
    if isinstance(exc, AarError) and text:
        return one_line(text, REASON_CHARS)
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, REASON_CHARS)


class TaskSupervisor:
    """Runs the daemon's background tasks, each under its policy; ``crashed`` is set when the run must end."""

    def __init__(
        self,
        store: EmitsEvents,
        *,
        stopping: asyncio.Event | None = None,
        clock: Clock = SYSTEM_CLOCK,
        disk: DiskSignal | None = None,
    ):
        self.store = store
        self.disk = disk
        """Where a task that failed for want of space waits for it (then starts again, not counted a failure)."""
        self.stopping = stopping or asyncio.Event()
        """Set when the run winds down: a failure from then on is recorded, not restarted."""
        self.clock = clock
        self.crashed = asyncio.Event()
        """Set when a task's failure ends the run; ``reason`` says which and why."""
        self.reason = ""
        self.failures: dict[str, int] = {}
        """Failures so far, by task name."""
        self.starts: dict[str, int] = {}
        """Times each task was started (1 + its restarts)."""
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, work: Callable[[], Awaitable[None]], policy: Policy) -> asyncio.Task[None]:
        """Run ``work()`` as the task ``name`` under ``policy``; the returned task ends when it is done for good."""
        task = asyncio.create_task(self._supervise(name, work, policy), name=name)
        self._tasks[name] = task
        return task

    async def _supervise(self, name: str, work: Callable[[], Awaitable[None]], policy: Policy) -> None:
        recent: deque[float] = deque()
        while True:
            self.starts[name] = self.starts.get(name, 0) + 1
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if await self._waited_for_space(name, exc):
                    continue
                log.error("task %s failed", name, exc_info=exc)
                self.failures[name] = self.failures.get(name, 0) + 1
                failure = describe(exc)
            now = self.clock.monotonic()
            recent.append(now)
            while isinstance(policy, Restart) and recent and now - recent[0] > policy.window_s:
                recent.popleft()
            if self.stopping.is_set():
                self._record(name, f"task {name} failed while the run stopped: {failure}")
                return
            if isinstance(policy, Crash):
                self._crash(name, f"task {name} failed: {failure}")
                return
            if len(recent) > policy.max_restarts:
                self._crash(
                    name,
                    f"task {name} failed {len(recent)} times in {policy.window_s:.0f}s, the last: {failure}",
                )
                return
            delay = min(policy.backoff_s * 2 ** (len(recent) - 1), policy.max_backoff_s)
            self._record(name, f"task {name} failed: {failure}; restarting in {delay:g}s")
            await self._backoff(delay)
            if self.stopping.is_set():
                return

    async def _waited_for_space(self, name: str, exc: Exception) -> bool:
        """Whether ``exc`` was a full disk that the disk guard has now looked at; the task then starts again
        after ``FULL_DISK_RETRY_S``, not counted a failure (the guard pauses the team and says so: one inbox
        item for the run, not one per task)."""
        if self.disk is None or not self.disk.guarded or not is_disk_full(exc):
            return False
        log.warning("task %s met a full disk; it starts again once the disk guard has looked", name)
        try:
            await self.disk.wait_for_space(f"the {name} task", exc, room=False)
        except Exception:
            return False
        await self._backoff(FULL_DISK_RETRY_S)
        return not self.stopping.is_set()

    async def _backoff(self, seconds: float) -> None:
        """Wait ``seconds`` on the clock, or less if the run stops meanwhile."""
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait((sleep, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            stop.cancel()

    def _record(self, name: str, message: str) -> None:
        try:
            self.store.emit(None, ErrorRaised(message=message, where=name))
        except Exception:  # the store is closed or broken: the log keeps it
            log.exception("could not record: %s", message)

    def _crash(self, name: str, reason: str) -> None:
        self._record(name, f"{reason}; the run ends")
        if not self.crashed.is_set():
            self.reason = reason
            self.crashed.set()

    async def close(self, timeout: float = 30.0) -> None:
        """Cancel every task still running (after ``timeout`` for those to end on their own), and record what
        any of them raised."""
        self.stopping.set()
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for name, task in self._tasks.items():
            if not task.done():
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # _supervise records a failure itself; this is a bug of the wrapper
                log.error("task %s failed at shutdown", name, exc_info=exc)
                self._record(name, f"task {name} failed at shutdown: {describe(exc)}")
