"""Pool benchmark: four agents' method submissions on one evaluator device, then on two.

Side by side in one run (the machine is shared and noisy, so the two sides
alternate): a toy run with cached baselines; four agents each submit the
vanilla method, re-run by the real worker pool over S seeds in fresh local
sandboxes and scored. Each side starts its pool, warms every worker (torch
import, task data) with a cached baselines job, then times the four method
jobs from enqueue until all read ``done`` in the store. CPU cores stand in for
GPUs (``cpu:0``, ``cpu:1``): a worker and its sandboxes hold one core each.
Other work on a shared machine adds time and comes and goes, so each repeat
runs the two sides back to back and the headline is the median of those paired
ratios (each side's fastest repeat is printed too). Last line: 2-device time /
1-device time; target <= 0.6.

Usage: python bench/pool.py [SEEDS] [REPEATS]   (defaults: 2 seeds, 3 repeats)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.config import RunConfig, dump_config  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from bench.timing import until_done  # noqa: E402

AGENTS = ("ann", "bob", "cy", "dee")
SIDES = {"1 device": ["cpu:0"], "2 devices": ["cpu:0", "cpu:1"]}


async def side(paths: RunPaths, devices: list[str], seeds: int, source: str) -> tuple[float, dict[str, str]]:
    """Seconds for the four method jobs on ``devices``, and the device each job ran on."""
    from evaluator.daemon.pool import WorkerPool

    store = await RunStore.open(paths.db)
    pool = WorkerPool(paths, store, devices, job_timeout_s=3600, poll_s=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(pool.run(stop))
    try:
        warm = [await store.enqueue_job("baselines", {"seeds": list(range(seeds))}) for _ in devices]
        await until_done(store, warm)
        ids = []
        start = time.perf_counter()
        for agent in AGENTS:
            sub = await store.add_submission(agent, "method", {"filename": "vanilla.py", "source": source})
            spec = {"submission_id": sub, "filename": "vanilla.py", "source": source, "seeds": list(range(seeds))}
            ids.append(await store.enqueue_job("method", spec, submission_id=sub))
        await until_done(store, ids)
        seconds = time.perf_counter() - start
        placed: dict[str, str] = {}
        for k, job_id in enumerate(ids):
            job = await store.job(job_id)
            assert job is not None, f"job {job_id} is gone"
            placed[AGENTS[k]] = job.device
        return seconds, placed
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await store.close()


async def bench(seeds: int, repeats: int) -> float:
    from evaluator.compute.prepare import prepare

    root = Path(tempfile.mkdtemp(prefix="aar-bench-pool-")) / "run"
    paths = RunPaths(root)
    paths.make()
    config = RunConfig.model_validate(
        {"evaluator": {"seeds": seeds}, "sandbox": {"backend": "local"}, "devices": {"evaluator": SIDES["2 devices"]}}
    )
    paths.config.write_text(dump_config(config))
    prepare(root)
    await (await RunStore.open(paths.db, create=True)).close()
    source = (Path(__file__).resolve().parents[1] / "evaluator" / "compute" / "methods" / "vanilla.py").read_text()
    times: dict[str, list[float]] = {name: [] for name in SIDES}
    for r in range(repeats):
        for name, devices in SIDES.items():
            seconds, placed = await side(paths, devices, seeds, source)
            times[name].append(seconds)
            where = ", ".join(f"{a} on {d}" for a, d in placed.items())
            load = os.getloadavg()[0]  # a shared machine: the other work this side ran beside
            print(
                f"repeat {r + 1}, {name:9}: 4 method jobs x {seeds} seeds in {seconds:6.2f}s"
                f" ({where}; load average {load:.1f})",
                flush=True,
            )
    one, two = min(times["1 device"]), min(times["2 devices"])
    print(f"fastest: 1 device {one:.2f}s, 2 devices {two:.2f}s, ratio {two / one:.2f}")
    ratio = statistics.median(b / a for a, b in zip(times["1 device"], times["2 devices"], strict=True))
    print(f"pool wall time, 2 devices / 1 device (median of {repeats} paired repeats): {ratio:.2f} (target <= 0.6)")
    return ratio


if __name__ == "__main__":
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    asyncio.run(bench(seeds, repeats))
