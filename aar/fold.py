"""Catching a derived table up with the store (the inbox, the search index): fold batches until one is short,
and keep doing so every so often until the daemon stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def fold_all(fold: Callable[[int], Awaitable[int]], batch: int) -> int:
    """Call ``fold(batch)`` until it folds fewer than ``batch`` rows; returns how many it folded in all."""
    total = 0
    while True:
        folded = await fold(batch)
        total += folded
        if folded < batch:
            return total


async def until_stopped(work: Callable[[], Awaitable[object]], stop: asyncio.Event, interval: float) -> None:
    """Await ``work()`` at once and then every ``interval`` seconds until ``stop`` is set (waking at once)."""
    while not stop.is_set():
        await work()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
