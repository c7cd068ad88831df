"""Inbox benchmark: a run whose inbox holds 10,000 open items; how fast the inbox opens.

Side by side in one run (the machines are shared and noisy):

1. Folding: the daemon's builder derives the 10,000 items from 20,000 events
   (half of them raise nothing); events folded per second.
2. Reading: ``RunStore.inbox()`` (the ranked top ``INBOX_SHOWN``, with
   acknowledgements) and ``inbox_open_count()`` (the badge) against the same
   query in plain sqlite3 on the same file.
3. Opening: the real app attached headless at 80x24 through Pilot; ``I`` is
   pressed, and the time runs until the frame after the table holds the
   items; then back. The leaderboard (``l``) is opened the same way as a
   reference.

Each open also gives the CPU the app's process spent on it (all its threads): on a shared, loaded
machine the wall-clock time is mostly waiting for a core, and the CPU time is what an idle one would see.
Last line: the inbox's open p99 in ms (target < 100) and its ratio to the leaderboard's.
Usage: python bench/inbox.py [OPENS]
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.events import MonitorDecided, SandboxOutput, SupervisorAsked  # noqa: E402
from aar.inbox import catch_up  # noqa: E402
from aar.lock import DaemonLock  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from bench.timing import key_to_frame  # noqa: E402

ITEMS = 10_000
AGENTS = [f"agent-{i}" for i in range(1, 10)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _line(name: str, values: list[float]) -> str:
    return f"{name}: p50 {statistics.median(values):.2f} ms, p99 {_pct(values, 0.99):.2f} ms (n={len(values)})"


async def _make_run(root: Path) -> tuple[RunPaths, float]:
    paths = RunPaths(root)
    paths.make()
    paths.config.write_text('[run]\nname = "bench"\n')
    async with await RunStore.open(paths.db, create=True, batch_size=5000) as store:
        await store.set_meta("run_id", "bench")
        await store.set_meta("state", "running")
        for name in AGENTS:
            await store.register_agent(name, backend="scripted", model="bench")
        noise = SandboxOutput(call_id="c", stream="stdout", text="epoch 1 loss 0.5\n").model_dump_json()
        rows = []
        for i in range(ITEMS):
            agent = AGENTS[i % 9]
            payload: SupervisorAsked | MonitorDecided
            if i % 10 == 0:
                payload = SupervisorAsked(step=i, question=f"question {i}: may I try idea {i}?", call_id=f"q{i}")
            else:
                payload = MonitorDecided(
                    monitor="builtin", rule="label_hunting", action="flag", reason=f"grep for labels, call {i}"
                )
            rows += [(agent, payload.kind, payload.model_dump_json()), (agent, "sandbox.output", noise)]
        store.emit_raw(rows)
        await store.flush()
        start = time.perf_counter()
        await catch_up(store)
        took = time.perf_counter() - start
        assert await store.inbox_open_count() == ITEMS
    return paths, took


async def _reads(paths: RunPaths, n: int) -> tuple[list[float], list[float], list[float]]:
    from tui.service import INBOX_SHOWN

    ours, counts, raw_times = [], [], []
    raw = sqlite3.connect(paths.db)
    sql = (
        "SELECT i.*, a.by AS ack_by, a.ts AS ack_ts FROM inbox i LEFT JOIN inbox_acks a USING (source_event)"
        " WHERE i.cleared_event IS NULL AND a.source_event IS NULL ORDER BY i.rank, i.id DESC LIMIT ?"
    )
    async with await RunStore.open(paths.db) as store:
        for _ in range(n):
            t0 = time.perf_counter()
            rows = await store.inbox(limit=INBOX_SHOWN)
            ours.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await store.inbox_open_count()
            counts.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            plain = raw.execute(sql, (INBOX_SHOWN,)).fetchall()
            raw_times.append((time.perf_counter() - t0) * 1000)
            assert len(rows) == len(plain) == INBOX_SHOWN
    raw.close()
    return ours, counts, raw_times


async def _opens(paths: RunPaths, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
    from tui.app import AarApp
    from tui.screens.inbox import InboxScreen
    from tui.screens.leaderboard import LeaderboardScreen
    from tui.screens.main import MainScreen

    app = AarApp(paths.root)
    inbox_ms: list[float] = []
    board_ms: list[float] = []
    cpu: dict[str, list[float]] = {"I": [], "l": []}
    async with app.run_test(size=(80, 24)) as pilot:
        while len(app.model.agents) < 9 or app.model.inbox_open < ITEMS:
            await pilot.pause(0.05)
        await pilot.pause(0.5)

        async def one(key: str, ready: Callable[[], bool]) -> float:
            took, spent = await key_to_frame(app, key, ready)
            cpu[key].append(spent)
            app.simulate_key("escape")
            while not isinstance(app.screen, MainScreen):
                await asyncio.sleep(0.001)
            await pilot.pause(0.05)
            return took

        def inbox_ready() -> bool:
            screen = app.screen
            return isinstance(screen, InboxScreen) and len(screen.items) > 0

        def board_ready() -> bool:
            return isinstance(app.screen, LeaderboardScreen)

        for _ in range(n):
            inbox_ms.append(await one("I", inbox_ready))
            board_ms.append(await one("l", board_ready))
    return inbox_ms, board_ms, cpu["I"], cpu["l"]


async def bench(opens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths, fold_s = await _make_run(Path(tmp) / "run")
        reads, counts, raw = await _reads(paths, 200)
        with DaemonLock(paths.lock):  # held as a live daemon holds it
            inbox_ms, board_ms, inbox_cpu, board_cpu = await _opens(paths, opens)
    print(f"fold: {2 * ITEMS:,} events into {ITEMS:,} items in {fold_s:.2f} s ({2 * ITEMS / fold_s:,.0f} events/s)")
    print(_line("RunStore.inbox() top 200 of 10,000", reads) + " | " + _line("plain sqlite3, same query", raw))
    print(_line("RunStore.inbox_open_count() (badge)", counts))
    print(_line("open the leaderboard (reference)", board_ms) + " | CPU " + _line("", board_cpu).lstrip(": "))
    print(_line("open the inbox, 10,000 open items", inbox_ms) + " | CPU " + _line("", inbox_cpu).lstrip(": "))
    p99 = _pct(inbox_ms, 0.99)
    print(f"inbox open p99 {p99:.1f} ms (target < 100); vs the leaderboard {p99 / _pct(board_ms, 0.99):.2f}x")


if __name__ == "__main__":
    asyncio.run(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
