"""What several benchmarks measure the same way: a key's time to a drawn screen, and a set of jobs to done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aar.store import RunStore


async def key_to_frame(app: Any, key: str, ready: Callable[[], bool]) -> tuple[float, float]:
    """Milliseconds from pressing ``key`` until ``ready()`` holds and the next frame is drawn: wall and CPU."""
    drawn: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def stamp() -> None:
        if not drawn.done():
            drawn.set_result(time.perf_counter())

    start, cpu0 = time.perf_counter(), time.process_time()
    app.simulate_key(key)
    while not ready():
        await asyncio.sleep(0.0005)
    app.call_after_refresh(stamp)
    return (await drawn - start) * 1000, (time.process_time() - cpu0) * 1000


async def until_done(store: RunStore, ids: list[int]) -> None:
    """Wait until every job in ``ids`` is done; the first failed one ends the benchmark with its error."""
    while True:
        jobs = [await store.job(i) for i in ids]
        failed = [j for j in jobs if j is not None and j.status == "failed"]
        if failed:
            raise SystemExit(f"job {failed[0].id} failed: {failed[0].error}")
        if all(j is not None and j.status == "done" for j in jobs):
            return
        await asyncio.sleep(0.05)
