"""The daemon's search indexer: it folds new transcript rows into the full-text index a second or two after
they are written, in batches (``aar.store.search_index`` says why not a trigger per step)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aar.fold import until_stopped

FOLLOW_INTERVAL_S = 1.0


class FoldsSearch(Protocol):
    async def catch_up_search(self, *, batch: int = 2000) -> int: ...


async def follow(store: FoldsSearch, stop: asyncio.Event, *, interval: float = FOLLOW_INTERVAL_S) -> None:
    """Keep the index up with the transcripts until ``stop``, then fold what is left. A fold that fails
    raises: the daemon's supervisor records it and starts this again (the cursor is in the store)."""
    await until_stopped(store.catch_up_search, stop, interval)
    await store.catch_up_search()
