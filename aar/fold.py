"""Catching a derived table up with the store (the inbox, the search index): fold batches until one is short."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


async def fold_all(fold: Callable[[int], Awaitable[int]], batch: int) -> int:
    """Call ``fold(batch)`` until it folds fewer than ``batch`` rows; returns how many it folded in all."""
    total = 0
    while True:
        folded = await fold(batch)
        total += folded
        if folded < batch:
            return total
