"""Evaluator benchmark: the same baseline training through the worker process and in a plain script.

Side by side in one run (the machine is shared and noisy, so the two sides
alternate): the ``baselines`` job of the toy task over N seeds, uncached
(weak + ceiling + vanilla per seed, then the PGR and its bootstrap CI),
(a) called directly in this process, and (b) enqueued and run by the real
spawned worker under its supervisor, timed from enqueue until the job reads
``done`` in the store. Both sides are warmed up first (torch import, data generation), as a
long-lived worker is. Other work on a shared machine only ever adds time, so
the headline compares each side's fastest repeat (the median of the paired
ratios is printed too). The plain side's seconds per seed is the toy task's own target (under 5 s per
seed on two cores: a run's baselines take seconds, not minutes). Last line: worker time / plain time;
target <= 1.15.

Usage: python bench/evaluator.py [SEEDS] [REPEATS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from aar.config import RunConfig, dump_config  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402


async def bench(seeds: int, repeats: int) -> float:
    from evaluator.compute.prepare import prepare
    from evaluator.daemon.job_specs import BaselinesJob, enqueue
    from evaluator.daemon.jobs import Evaluation, run_baselines
    from evaluator.daemon.supervisor import WorkerSupervisor

    root = Path(tempfile.mkdtemp(prefix="aar-bench-eval-")) / "run"
    paths = RunPaths(root)
    paths.make()
    config = RunConfig.model_validate({"evaluator": {"seeds": seeds, "device": "cpu"}})
    paths.config.write_text(dump_config(config))
    prepare(root)
    evaluation = Evaluation(paths, config, "cpu")
    spec = BaselinesJob(seeds=list(range(seeds)), cache=False)
    store = await RunStore.open(paths.db, create=True)
    supervisor = WorkerSupervisor(paths, store, job_timeout_s=3600)
    stop = asyncio.Event()
    supervised = asyncio.create_task(supervisor.run(stop))

    def plain() -> float:
        start = time.perf_counter()
        run_baselines(evaluation, spec, lambda fraction, detail: None)
        return time.perf_counter() - start

    async def worker(n: int) -> float:
        start = time.perf_counter()
        job_id = await enqueue(store, BaselinesJob(seeds=list(range(n)), cache=False))
        while (job := await store.job(job_id)) is not None and job.status not in ("done", "failed"):
            await asyncio.sleep(0.05)
        assert job is not None and job.status == "done", job.error if job else "job vanished"
        total = time.perf_counter() - start
        (result,) = [r for r in await store.results() if r.job_id == job_id]
        print(f"  worker: {result.metrics['wall_s']:.2f}s training of {total:.2f}s from enqueue to done", flush=True)
        return total

    try:
        await worker(1)  # warm-up: the worker imports torch and builds the data once, as it does in a run
        plain()
        plain_s, worker_s = [], []
        for i in range(repeats):
            plain_s.append(plain())
            worker_s.append(await worker(seeds))
            print(f"repeat {i + 1}: plain {plain_s[-1]:.2f}s, worker {worker_s[-1]:.2f}s", flush=True)
    finally:
        stop.set()
        await supervised
        await store.close()
    p, w = min(plain_s), min(worker_s)
    paired = statistics.median(b / a for a, b in zip(plain_s, worker_s, strict=False))
    print(
        f"toy baselines (weak + ceiling + vanilla), {seeds} seeds, fastest of {repeats}: plain {p:.2f}s ({p / seeds:.2f}s/seed), worker {w:.2f}s"
    )
    print(f"toy seconds per seed (plain, fastest): {p / seeds:.2f}s; target < 5 s")
    print(f"median of paired ratios: {paired:.3f}")
    print(f"worker/plain ratio (fastest repeats): {w / p:.3f}")
    return w / p


if __name__ == "__main__":
    n_seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    asyncio.run(bench(n_seeds, reps))
