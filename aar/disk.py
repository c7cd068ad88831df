"""The run's disk: telling a full disk from other failures, and a ballast that keeps room to say so.

A disk can fill between two looks at its free space (another program writes
a large file); then SQLite refuses to commit (``SQLITE_FULL``) and file writes
fail with ``ENOSPC``. ``is_disk_full`` tells such a failure from any other, so
the caller waits for space instead of failing. The ballast is a file of a few
megabytes the daemon keeps in the run folder: given back when the disk is
full, it leaves room for the store to commit the warning, the team's pause and
the steps in flight; it is taken again once there is space.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
from collections.abc import Awaitable
from pathlib import Path

from aar.escape import one_line

SQLITE_FULL = 13
"""SQLite's primary result code for "database or disk is full"."""
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
BALLAST_NAME = "disk-ballast"
BALLAST_MB = 16
"""Enough room for the store to commit thousands of events after the disk filled."""
MB = 1024 * 1024
DISK_META = "disk_low"
"""The run's ``meta`` key that holds the standing ``disk.low`` (JSON) while the team waits for space, and is
empty otherwise: the status bar reads it, so a TUI that attaches mid-pause shows the warning too."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a disk or quota that is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if (code is not None and code & 0xFF == SQLITE_FULL) or "database or disk is full" in str(current):
                return True
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


class Ballast:
    """A preallocated file in the run folder, given back when the disk is full and taken again after."""

    def __init__(self, folder: Path, *, size_mb: float = BALLAST_MB) -> None:
        self.path = folder / BALLAST_NAME
        self.size = int(size_mb * MB)

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def take(self) -> bool:
        """Allocate the file (its blocks, not only its length); False when the disk has no room for it."""
        if self.size <= 0 or self.held:
            return self.held
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            os.posix_fallocate(fd, 0, self.size)
        except OSError:
            os.close(fd)
            self.give_back()
            return False
        os.close(fd)
        return True

    def give_back(self) -> int:
        """Remove the file; returns the bytes freed."""
        try:
            size = self.path.lstat().st_blocks * 512
        except OSError:
            return 0
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return size


class DiskSignal:
    """How a writer that met a full disk tells the disk guard, and waits until there is space again.

    The daemon has one (``RunContext.disk``) and its disk guard watches it: a report wakes the guard, which
    pauses the team and says so; the writer's wait ends once the guard has judged its report and the disk
    has room again, and the writer tries its write again. With no guard watching (or once it stops), nothing
    would ever say that space is back, so the wait raises the writer's failure."""

    def __init__(self) -> None:
        self.guarded = False
        """A disk guard watches this signal."""
        self.full = False
        """The guard paused the team for want of space, and has not yet seen the space come back."""
        self._failure: str | None = None
        self._reported = 0
        self._judged = 0
        self._changed: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None

    def report(self, where: str, exc: BaseException) -> None:
        """A write failed for want of space; the guard looks at once."""
        if self._failure is None:
            self._failure = f"{where}: {one_line(f'{type(exc).__name__}: {exc}', 200)}"
        self._reported += 1
        if self._wake is not None:
            self._wake.set()

    async def wait_for_space(self, where: str, exc: BaseException, *, room: bool = True) -> None:
        """Report ``exc`` and wait until the guard has judged it and (with ``room``) the disk has room again;
        raises ``exc`` when no guard watches. Without ``room`` the wait ends at the guard's look, when it has
        given back its ballast: enough for the daemon's own small writes, not for the team's."""
        self.report(where, exc)
        mine = self._reported
        while True:
            if not self.guarded:
                raise exc
            if self._judged >= mine and (not self.full or not room):
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    # ------------------------------------------------------------ the guard's side

    def watch(self, guarded: bool) -> None:
        """A guard starts (True) or stops (False) watching; waiters look again."""
        self.guarded = guarded
        self._announce()

    def take_failure(self) -> tuple[str | None, int]:
        """The first failure reported since the last look (None if none), and how many reports there were."""
        failure, self._failure = self._failure, None
        return failure, self._reported

    def judged(self, upto: int, *, full: bool) -> None:
        """The guard has judged the reports up to ``upto``; the disk is ``full`` or has room."""
        self._judged = max(self._judged, upto)
        self.full = full
        self._announce()

    async def woken(self, sleep: Awaitable[None]) -> None:
        """Wait for ``sleep`` or a report, whichever comes first."""
        if self._wake is None:
            self._wake = asyncio.Event()
        waking = asyncio.ensure_future(self._wake.wait())
        sleeping = asyncio.ensure_future(sleep)
        try:
            await asyncio.wait({waking, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waking, sleeping):
                task.cancel()
            self._wake.clear()

    def _announce(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
