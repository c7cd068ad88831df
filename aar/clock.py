"""The time the kernel reads: one seam, so tests move time instead of waiting for it.

The store's job queue (claims, device-seconds), the budget guard (wall clock) and the
monitors (idle spells, their tick) read time through a ``Clock``. The daemon uses
``SYSTEM_CLOCK``; a test hands in a fake one that it advances by hand.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch: what the store records as a row's time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: what durations are measured with."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``monotonic()`` has moved ``seconds`` on."""
        ...


class SystemClock:
    """The machine's clocks and asyncio's sleep."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
