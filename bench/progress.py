"""Progress-chart benchmark: how long the series take on a long run, and one frame of the chart.

The digest benchmark's synthetic run (``bench/digest.py``: nine agents, EVENTS events over eight hours, 600
scored prediction files), plus 200 verified methods. ``load_progress`` is timed ROUNDS times cold (a new
spend ledger: what ``aar report`` and the chart's first read pay) and with the ledger kept (what each later
read of an open chart pays); then the chart laid out at 160x48. p50 and p99 of each.

Usage: python bench/progress.py [EVENTS] [ROUNDS] (default 1,000,000 and 20)
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.effort import SpendLedger  # noqa: E402
from aar.progress import Progress, load_progress  # noqa: E402
from aar.store import RunStore  # noqa: E402
from bench.digest import AGENTS, HOURS, build_store  # noqa: E402
from tui.chart_layout import layout  # noqa: E402

METHODS = 200


async def add_methods(db: Path, end: float) -> None:
    """``METHODS`` verified methods spread over the run, a few flagged."""
    rng = random.Random(11)
    async with await RunStore.open(db) as store:
        for n in range(METHODS):
            flags = ("seed_invariant",) if n % 25 == 0 else ()
            sid = await store.add_submission(AGENTS[n % 9], "method", {}, flags=flags, label=f"m{n}.py")
            job = await store.enqueue_job("method", {}, submission_id=sid, status="done")
            pgr = rng.random()
            await store.add_result(job, submission_id=sid, split="seeds", pgr=pgr, ci_low=pgr, ci_high=pgr, metrics={})
        start = end - HOURS * 3600
        await store._db.execute(
            "UPDATE eval_results SET ts = ? + id * ? WHERE split = 'seeds'", (start, HOURS * 3600 / (600 + METHODS))
        )


def percentiles(took: list[float]) -> str:
    took = sorted(took)
    p50, p99 = took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))]
    return f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


async def timed(rounds: int, run: Callable[[], Awaitable[Progress]]) -> tuple[list[float], Progress]:
    took, found = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        found = await run()
        took.append(time.perf_counter() - start)
    assert found is not None
    return took, found


async def main(events: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aar-bench-progress-") as tmp:
        db = Path(tmp) / "run.db"
        t = time.perf_counter()
        end = await build_store(db, events)
        await add_methods(db, end)
        print(f"built a run of {events:,} events, 600 files and {METHODS} methods in {time.perf_counter() - t:.0f}s")
        async with await RunStore.open(db) as store:
            cold, progress = await timed(rounds, lambda: load_progress(store))
            ledger = SpendLedger()
            await load_progress(store, ledger=ledger)
            kept, _ = await timed(rounds, lambda: load_progress(store, ledger=ledger))
        print(
            f"series: {len(progress.points)} points, best {progress.team.best_pgr:.3f} after"
            f" {progress.team.hours:.1f} agent-hours and ${progress.team.usd:.2f}"
        )
        print(f"load_progress, a new ledger: {percentiles(cold)}")
        print(f"load_progress, the ledger kept: {percentiles(kept)}")
        frames = []
        for per_agent in (False, True):
            for _ in range(rounds):
                start = time.perf_counter()
                layout(progress, "hours", per_agent, 158, 44)
                frames.append(time.perf_counter() - start)
        print(f"chart layout at 160x48: {percentiles(frames)}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    events, rounds = (args + [1_000_000, 20][len(args) :])[:2]
    asyncio.run(main(events, rounds))
