"""The disk guard: the team waits while the disk holding the run is nearly full, and goes on when it is not.

A run writes its store, its agents' workspaces and the evaluator's caches to one
folder. When that disk fills, SQLite refuses to commit (``SQLITE_FULL``; the
event log keeps its batch and tries again) and sandboxes fail to write. Rather
than meet that, the guard looks at the free space every few seconds: under
``run.disk_reserve_mb`` it pauses every running agent (each finishes its step in
flight, so nothing committed is lost) and says how much space is needed, as a
warning (an inbox item); once there is half as much again as the reserve, it
resumes the agents it paused, and only those (one the supervisor paused stays
paused).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from aar.clock import SYSTEM_CLOCK, Clock
from aar.events import RunLog
from aar.store import RunStore
from agents.agent_state import AgentControl

CHECK_S = 5.0
"""How often the free space is looked at."""
RESUME_AT = 1.5
"""The agents go on once the free space is this many times the reserve (so they do not flap)."""
MB = 1024 * 1024
REASON = "the disk is nearly full"


def free_bytes(path: Path) -> int:
    """Free space, in bytes, for an unprivileged writer on the disk that holds ``path``."""
    return shutil.disk_usage(path).free


class DiskGuard:
    """Pauses the team under ``reserve_mb`` free on the run's disk; resumes it once space is back."""

    def __init__(
        self,
        root: Path,
        controls: Mapping[str, AgentControl],
        store: RunStore,
        *,
        reserve_mb: float,
        every_s: float = CHECK_S,
        free: Callable[[Path], int] = free_bytes,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.root = root
        self.controls = controls
        self.store = store
        self.reserve = int(reserve_mb * MB)
        self.every_s = every_s
        self.free = free
        self.clock = clock
        self.held: set[str] = set()
        """Agents this guard paused (and will resume)."""
        self.full = False

    async def run(self) -> None:
        """Look every ``every_s`` until cancelled."""
        if self.reserve <= 0:
            return
        while True:
            await self.check()
            await self.clock.sleep(self.every_s)

    async def check(self) -> None:
        free = await asyncio.to_thread(self.free, self.root)
        if not self.full and free < self.reserve:
            self.full = True
            for name, control in self.controls.items():
                if not control.ended and not control.paused:
                    control.pause(REASON)
                    self.held.add(name)
            need = (self.reserve * RESUME_AT - free) / MB
            self._say(
                "warning",
                f"disk nearly full: {free / MB:.0f} MB free on {self.root}, under the {self.reserve / MB:.0f} MB "
                f"reserve; the team is paused until {need:.0f} MB more are free",
            )
        elif self.full and free >= self.reserve * RESUME_AT:
            self.full = False
            for name in sorted(self.held):
                control = self.controls[name]
                if control.paused and control.pause_reason == REASON:
                    control.resume()
            self.held.clear()
            self._say("info", f"disk space is back: {free / MB:.0f} MB free on {self.root}; the team goes on")

    def _say(self, level: str, message: str) -> None:
        self.store.emit(None, RunLog(level="warning" if level == "warning" else "info", message=message))
