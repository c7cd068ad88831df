"""Run-store benchmark: write overhead against raw sqlite3, and attach cost against run length.

Side by side in one run (the machines are shared and noisy):

1. N events (default 1,000,000) written through ``RunStore.emit`` + batched
   flushes, and the same events written with plain ``sqlite3.executemany``
   into the same schema with the same pragmas and batch size. Both sides start
   from the same payloads and serialise them to JSON (the store with
   pydantic's ``model_dump_json``, raw with ``json.dumps``).
2. Reading the newest 1,000 events (what ``aar attach`` does) of the N-event
   run, divided by the same read of a 1,000-event run.

Last line: the write ratio (store time / raw time); target <= 1.5.
Usage: python bench/store.py [N]
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aar.events import SandboxOutput
from aar.store import RunStore
from aar.store.schema import MIGRATIONS, PRAGMAS

BATCH = 2000
AGENTS = [f"agent-{i}" for i in range(9)]


def payloads(n: int) -> list[SandboxOutput]:
    return [
        SandboxOutput(call_id=f"c{i // 100}", stream="stdout", text=f"epoch {i % 50} loss {1 / (1 + i % 97):.5f}\n")
        for i in range(n)
    ]


async def write_store(path: Path, events: list[SandboxOutput]) -> float:
    store = await RunStore.open(path, create=True, batch_size=BATCH)
    start = time.perf_counter()
    for i, event in enumerate(events):
        store.emit(AGENTS[i % 9], event)
        if i % BATCH == BATCH - 1:
            await store.flush()
    await store.flush()
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


def write_raw(path: Path, events: list[SandboxOutput], *, preserialised: bool = False) -> float:
    """Plain sqlite3; with ``preserialised`` the JSON is made before the clock starts (the insert floor)."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        db.execute(pragma)
    db.executescript(MIGRATIONS[0])
    dicts = [e.model_dump() for e in events]  # the same payloads, as plain data
    texts = [json.dumps(d, separators=(",", ":")) for d in dicts] if preserialised else None
    start = time.perf_counter()
    for lo in range(0, len(dicts), BATCH):
        now = time.time()
        chunk = (
            texts[lo : lo + BATCH] if texts else [json.dumps(d, separators=(",", ":")) for d in dicts[lo : lo + BATCH]]
        )
        rows = [(now, AGENTS[(lo + j) % 9], "sandbox.output", text) for j, text in enumerate(chunk)]
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


async def newest_read_time(path: Path, repeats: int = 30) -> float:
    store = await RunStore.open(path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        rows = await store.latest_events(1000)
        times.append(time.perf_counter() - start)
        assert len(rows) == 1000
    await store.close()
    return statistics.median(times)


async def main(n: int) -> None:
    events = payloads(n)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        # Alternate the two writers so drift in machine load hits both alike.
        store_t = await write_store(tmpdir / "store.db", events)
        raw_t = write_raw(tmpdir / "raw.db", events)
        floor_t = write_raw(tmpdir / "floor.db", events, preserialised=True)
        print(
            f"write {n:,} events: store {store_t:.2f}s ({n / store_t:,.0f}/s), raw executemany {raw_t:.2f}s ({n / raw_t:,.0f}/s)"
        )
        print(
            f"  insert floor (raw executemany of JSON made before the clock): {floor_t:.2f}s; store / floor {store_t / floor_t:.2f}"
        )
        await write_store(tmpdir / "small.db", events[:1000])
        big = await newest_read_time(tmpdir / "store.db")
        small = await newest_read_time(tmpdir / "small.db")
        print(f"read newest 1,000 events: {n:,}-event run {big * 1e3:.2f} ms, 1,000-event run {small * 1e3:.2f} ms")
        print(f"attach read ratio (big / small): {big / small:.2f}  (target <= 2)")
        print(f"write ratio (store / raw): {store_t / raw_t:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
