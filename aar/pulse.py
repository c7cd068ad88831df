"""The daemon's own heartbeat: it touches ``heartbeats/daemon.beat`` every second from its event loop,
and notices when its loop did not run for a while.

A daemon stopped with SIGSTOP and continued, a machine suspended and woken,
or a call that blocked the loop, all look alike from inside: the next beat
comes late. A gap over ``FROZEN_S`` is a warning in the run's log (an inbox
item) that says how long the daemon was gone and what saw the gap: the wall
clocks of the budgets, the sandboxes' timeouts, the agents' model calls. From
outside, a TUI reads the file's age: a daemon that holds the run's lock but
has not beaten for ``SILENT_S`` is shown as not responding.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from aar.clock import SYSTEM_CLOCK, Clock
from aar.events import RunLog
from aar.tasks import EmitsEvents

BEAT_S = 1.0
FROZEN_S = 10.0
"""A beat this late means the daemon did not run meanwhile."""
SILENT_S = 15.0
"""A heartbeat file this old, under a lock still held, is a daemon not responding (a TUI's view)."""
DAEMON = "daemon"
log = logging.getLogger("aar.pulse")


async def beat(path: Path, store: EmitsEvents, *, clock: Clock = SYSTEM_CLOCK, every_s: float = BEAT_S) -> None:
    """Touch ``path`` every ``every_s`` until cancelled; a late beat is a warning in the run's log."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    last = clock.monotonic()
    while True:
        try:
            path.touch()
        except OSError as exc:  # a full disk or a removed folder: the beat is only a sign, the run goes on
            log.warning("heartbeat %s: %s", path, exc)
        await clock.sleep(every_s)
        now = clock.monotonic()
        gap, last = now - last, now
        if gap - every_s > FROZEN_S:
            store.emit(
                None,
                RunLog(
                    level="warning",
                    message=(
                        f"the daemon did not run for {gap - every_s:.0f}s (stopped with SIGSTOP, the machine "
                        "suspended, or its loop blocked): wall-clock budgets and command timeouts counted that time"
                    ),
                ),
            )


def silent_for(path: Path, *, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last touched; None when there is no such file (an older daemon's run)."""
    try:
        touched = os.stat(path).st_mtime
    except OSError:
        return None
    return max(0.0, (time.time() if now is None else now) - touched)
