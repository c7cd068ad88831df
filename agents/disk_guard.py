"""The disk guard: the team waits while the disk holding the run is full or nearly so, and goes on when it is not.

A run writes its store, its agents' workspaces and the evaluator's caches to one
folder. When that disk fills, SQLite refuses to commit (``SQLITE_FULL``) and
sandboxes fail to write. The guard looks at the free space every few seconds,
and at once when a writer reports that a write failed for want of space
(``aar.disk.DiskSignal``): under ``run.disk_reserve_mb``, or on such a report,
it pauses every running agent (each finishes its step in flight; a step whose
commit failed waits and commits once there is room, so nothing is lost), gives
back its ballast so the store has room to say so, and says how much space is
needed (a ``disk.low`` event: an inbox item and the status bar's warning). Once
there is half as much again as the reserve, it takes its ballast again, resumes
the agents it paused, and only those (one the supervisor paused stays paused),
and says so (``disk.back``).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from aar.clock import SYSTEM_CLOCK, Clock
from aar.disk import DISK_META, MB, Ballast, DiskSignal, is_disk_full
from aar.events import DiskBack, DiskLow
from aar.store import RunStore
from agents.agent_state import AgentControl

CHECK_S = 5.0
"""How often the free space is looked at."""
RESUME_AT = 1.5
"""The agents go on once the free space is this many times the reserve (so they do not flap)."""
RESUME_MIN_MB = 32.0
"""With no reserve (a reserve of 0 turns the look at free space off), a pause after a failed write ends once
this much is free, with room for the ballast besides."""
REASON = "the disk is full"


def free_bytes(path: Path) -> int:
    """Free space, in bytes, for an unprivileged writer on the disk that holds ``path``."""
    return shutil.disk_usage(path).free


class DiskGuard:
    """Pauses the team when the run's disk is full or under ``reserve_mb``; resumes it once space is back."""

    def __init__(
        self,
        root: Path,
        controls: Mapping[str, AgentControl],
        store: RunStore,
        *,
        reserve_mb: float,
        signal: DiskSignal | None = None,
        ballast: Ballast | None = None,
        every_s: float = CHECK_S,
        free: Callable[[Path], int] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.root = root
        self.controls = controls
        self.store = store
        self.reserve = int(reserve_mb * MB)
        self.signal = signal or DiskSignal()
        self.ballast = ballast or Ballast(root)
        self.resume_at = max(int(self.reserve * RESUME_AT), int(RESUME_MIN_MB * MB) + self.ballast.size)
        self.every_s = every_s
        self.free = free if free is not None else free_bytes
        self.clock = clock
        self.held: set[str] = set()
        """Agents this guard paused (and will resume)."""
        self.low: DiskLow | None = None
        """The standing warning while the team waits for space."""
        self.since = 0.0
        """When the team was paused (the clock's monotonic time)."""
        self.written: str | None = None
        """What ``DISK_META`` holds, as this guard last wrote it (None: not written yet)."""

    @property
    def full(self) -> bool:
        return self.low is not None

    async def run(self) -> None:
        """Look every ``every_s``, and whenever a writer reports a full disk, until cancelled."""
        self.signal.watch(True)
        try:
            while True:
                await self.check()
                await self.signal.woken(self.clock.sleep(self.every_s))
        finally:
            self.signal.watch(False)

    async def check(self) -> None:
        failure, reports = self.signal.take_failure()
        free = await asyncio.to_thread(self.free, self.root)
        if self.low is None and (failure is not None or (self.reserve and free < self.reserve)):
            cause = f"a write failed ({failure})" if failure else f"under the {self.reserve / MB:.0f} MB reserve"
            await self._pause(free, cause)
        elif self.low is not None and free >= self.resume_at:
            await self._resume(free)
        elif self.low is None:
            await asyncio.to_thread(self.ballast.take)
        await self._commit()
        self.signal.judged(reports, full=self.full)

    async def _pause(self, free: int, cause: str) -> None:
        self.since = self.clock.monotonic()
        for name, control in self.controls.items():
            if not control.ended and not control.paused:
                control.pause(REASON)
                self.held.add(name)
        await asyncio.to_thread(self.ballast.give_back)
        self.low = DiskLow(
            path=str(self.root),
            free_mb=round(free / MB, 1),
            reserve_mb=round(self.reserve / MB, 1),
            need_mb=round((self.resume_at - free) / MB, 1),
            cause=cause,
        )
        self.store.emit(None, self.low)

    async def _resume(self, free: int) -> None:
        self.low = None
        await asyncio.to_thread(self.ballast.take)
        for name in sorted(self.held):
            control = self.controls[name]
            if control.paused and control.pause_reason == REASON:
                control.resume()
        self.held.clear()
        paused_s = round(self.clock.monotonic() - self.since, 1)
        self.store.emit(None, DiskBack(path=str(self.root), free_mb=round(free / MB, 1), paused_s=paused_s))

    async def _commit(self) -> None:
        """Write the standing warning (or its absence) and commit the news, if the disk has room for them;
        if not, the event log keeps the news and the next look tries again."""
        standing = self.low.model_dump_json() if self.low is not None else ""
        try:
            if standing != self.written:
                await self.store.set_meta(DISK_META, standing)
                self.written = standing
            await self.store.flush()
        except Exception as exc:
            if not is_disk_full(exc):
                raise
