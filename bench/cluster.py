"""Cluster benchmark: evaluator jobs as Ray tasks against the local worker, and one Ray node against two.

Side by side in one run, on a local Ray cluster (a head and, for the second half, one more node, both
bound to 127.0.0.1, each with one CPU), on a toy run whose baselines are cached:

- Overhead: the same job (the baselines of S seeds, uncached, so it trains) run K times one after the
  other by the local worker pool (one device, ``cpu:0``) and by the Ray backend on the head alone
  (one job at a time), with the run folder sent through the object store (the default) and read in
  place (``ray.run_folder = "shared"``). Each side runs one warm-up job first (torch import, task
  data), as a long run would have. Ratio: mean Ray seconds per job / mean local seconds per job;
  target <= 1.2.
- Scaling: 8 method submissions (the vanilla method over S seeds, each verified in fresh local
  sandboxes with its canary) through the Ray backend on the head alone, then with the second node
  added. Ratio: 2-node wall time / 1-node wall time; target <= 0.65. Fair on one machine: each node
  has one CPU, each job asks for one and trains on one thread, its sandbox included (as the local
  pool's ``cpu:0`` worker does), so one node runs one job at a time on one core and two run two; and
  one warm-up submission fills the baseline cache before the 1-node half, which the 2-node half
  would otherwise find filled by it.

Usage: python bench/cluster.py [SEEDS] [REPEATS]   (defaults: 1 seed, 4 overhead repeats)
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.config import RayConfig, RunConfig, dump_config  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from bench.timing import until_done  # noqa: E402
from tests.cluster.conftest import start_cluster, stop_cluster  # noqa: E402

METHODS = 8


async def timed(store: RunStore, ids: list[int]) -> float:
    start = time.perf_counter()
    await until_done(store, ids)
    return time.perf_counter() - start


async def one_by_one(store: RunStore, seeds: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` uncached baselines jobs, one after the other, after a warm-up job."""
    spec = {"seeds": list(range(seeds)), "cache": False}
    await until_done(store, [await store.enqueue_job("baselines", spec)])
    return [await timed(store, [await store.enqueue_job("baselines", spec)]) for _ in range(repeats)]


async def methods(store: RunStore, seeds: int, source: str, tag: str, count: int = METHODS) -> tuple[float, str]:
    """Wall time of ``count`` method submissions from enqueue to all done, and a line on how they ran: on how
    many nodes, each job's mean seconds, and how many ran at once on average (their seconds over the wall time:
    about 2 on two nodes unless something else holds the cores)."""
    ids = []
    start = time.perf_counter()
    for k in range(count):
        sub = await store.add_submission(f"{tag}-{k}", "method", {"filename": "vanilla.py", "source": source})
        spec = {"submission_id": sub, "filename": "vanilla.py", "source": source, "seeds": list(range(seeds))}
        ids.append(await store.enqueue_job("method", spec, submission_id=sub))
    await until_done(store, ids)
    seconds = time.perf_counter() - start
    jobs = [j for j in [await store.job(i) for i in ids] if j is not None]
    busy = sum(j.device_s for j in jobs)
    nodes = len({j.device for j in jobs})
    return seconds, f"{nodes} node(s), {busy / len(jobs):.1f}s a job, {busy / seconds:.2f} jobs at once"


async def bench(seeds: int, repeats: int) -> tuple[float, float]:
    from evaluator.compute.prepare import prepare
    from evaluator.daemon.pool import WorkerPool
    from evaluator.daemon.ray_pool import RayPool

    root = Path(tempfile.mkdtemp(prefix="aar-bench-cluster-")) / "run"
    paths = RunPaths(root)
    paths.make()
    config = RunConfig.model_validate({"evaluator": {"seeds": seeds}, "sandbox": {"backend": "local"}})
    paths.config.write_text(dump_config(config))
    prepare(root)
    store = await RunStore.open(paths.db, create=True)
    source = (Path(__file__).resolve().parents[1] / "evaluator" / "compute" / "methods" / "vanilla.py").read_text()
    local = start_cluster({"num_cpus": 1}, {"num_cpus": 1})
    second = local.second
    local.cluster.remove_node(second)  # the first half runs on the head alone
    try:
        stop = asyncio.Event()
        worker = WorkerPool(paths, store, ["cpu:0"], job_timeout_s=3600, poll_s=0.05)
        task = asyncio.create_task(worker.run(stop))
        here = await one_by_one(store, seeds, repeats)
        stop.set()
        await asyncio.wait_for(task, 60)

        print(f"local worker: {', '.join(f'{s:.2f}' for s in here)} s per job (mean {statistics.mean(here):.2f})")
        shared = RayConfig(address=local.address, num_cpus=1, run_folder="shared")
        stop = asyncio.Event()
        ray = RayPool(paths, store, shared, job_timeout_s=3600, poll_s=0.05)
        task = asyncio.create_task(ray.run(stop))
        in_place = await one_by_one(store, seeds, repeats)
        stop.set()
        await asyncio.wait_for(task, 60)
        print(
            f"ray, shared:  {', '.join(f'{s:.2f}' for s in in_place)} s per job (mean {statistics.mean(in_place):.2f})"
        )

        stop = asyncio.Event()
        ray = RayPool(
            paths, store, shared.model_copy(update={"run_folder": "object_store"}), job_timeout_s=3600, poll_s=0.05
        )
        task = asyncio.create_task(ray.run(stop))
        there = await one_by_one(store, seeds, repeats)
        print(f"ray, 1 node:  {', '.join(f'{s:.2f}' for s in there)} s per job (mean {statistics.mean(there):.2f})")
        overhead = statistics.mean(there) / statistics.mean(here)

        await methods(store, seeds, source, "warm", count=1)
        one, where_one = await methods(store, seeds, source, "one")
        print(f"ray, 1 node:  {METHODS} method jobs x {seeds} seeds in {one:.1f}s ({where_one})")
        local.cluster.add_node(node_ip_address="127.0.0.1", num_cpus=1, object_store_memory=80 * 2**20)
        local.cluster.wait_for_nodes()
        await asyncio.sleep(2 * ray.nodes_every_s)  # the pool sees the new node's room
        two, where_two = await methods(store, seeds, source, "two")
        print(f"ray, 2 nodes: {METHODS} method jobs x {seeds} seeds in {two:.1f}s ({where_two})")
        stop.set()
        await asyncio.wait_for(task, 60)
    finally:
        await store.close()
        stop_cluster(local)
    scaling = two / one
    print(f"overhead, ray (object store) / local wall time per job: {overhead:.2f} (target <= 1.2)")
    print(f"scaling, 2 nodes / 1 node wall time for {METHODS} method jobs: {scaling:.2f} (target <= 0.65)")
    return overhead, scaling


if __name__ == "__main__":
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    asyncio.run(bench(seeds, repeats))
