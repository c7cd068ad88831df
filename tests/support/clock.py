"""A clock the test moves by hand: ``advance`` is the only way its time passes.

It satisfies ``aar.clock.Clock``; hand it to ``RunStore.open(clock=...)`` or ``RunContext(clock=...)``
and the job queue, the budget guards and the monitors read its time. A ``sleep`` on it returns when
the test has advanced the clock past its end, never on its own.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

FIXED_START = 1_767_225_600.0
"""2026-01-01 00:00:00 UTC: where a fake clock starts unless told otherwise."""


class FakeClock:
    """Wall and monotonic time are one number that moves only on ``advance``."""

    def __init__(self, start: float = FIXED_START) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # no time passes, but a sleep still lets the other tasks run, as asyncio's does
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    @property
    def sleepers(self) -> int:
        """How many sleeps wait on this clock (a test waits for the one it is about to end)."""
        return sum(1 for _, _, woken in self._sleepers if not woken.done())

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``; every sleep that ends by then returns (at the loop's next turn)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)
