"""The daemon's heartbeat: a file touched every second, and a warning when the daemon's loop did not run for a
while (SIGSTOP then SIGCONT, a suspended machine, a blocked loop). Time is a clock moved by hand."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from aar.events import RunLog
from aar.pulse import FROZEN_S, beat, silent_for
from aar.store import RunStore
from tests.agents.helpers import events
from tests.support import FakeClock, eventually


async def test_a_late_beat_says_how_long_the_daemon_was_gone(store: RunStore, tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "heartbeats" / "daemon.beat"
    task = asyncio.create_task(beat(path, store, clock=clock))
    try:
        await eventually(lambda: clock.sleepers == 1, what="the first beat")
        assert path.is_file()
        for _ in range(3):  # on time, and a little late: no warning
            clock.advance(1 + FROZEN_S / 2)
            await eventually(lambda: clock.sleepers == 1, what="the next beat")
        assert await _warnings(store) == []
        clock.advance(1 + 24)  # the loop ran 24 s late: SIGSTOP, then SIGCONT
        await eventually(lambda: clock.sleepers == 1, what="the beat after the gap")
        await store.flush()
        assert await _warnings(store) == [
            "the daemon did not run for 24s (stopped with SIGSTOP, the machine suspended, or its loop blocked): "
            "wall-clock budgets and command timeouts counted that time"
        ]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_a_heartbeat_files_age_is_how_long_its_daemon_was_silent(tmp_path: Path) -> None:
    path = tmp_path / "daemon.beat"
    assert silent_for(path) is None, "no file: an older daemon that does not beat"
    path.touch()
    os.utime(path, (time.time() - 40, time.time() - 40))
    silent = silent_for(path)
    assert silent is not None and 39 <= silent <= 45


async def _warnings(store: RunStore) -> list[str]:
    await store.flush()
    return [e.payload.message for e in await events(store, RunLog) if e.payload.level == "warning"]
