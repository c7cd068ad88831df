"""Evaluator jobs as tasks on a real two-node Ray cluster, recorded in a real run store by the daemon's pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aar.config import RayConfig
from aar.events import EvalClusterChanged
from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from evaluator.compute.prepare import prepare
from tests.cluster.conftest import LocalCluster, add_node
from tests.evaluator.helpers import make_run
from tests.support import eventually

pytestmark = pytest.mark.slow  # starts Ray clusters and evaluator work

BASELINES = {"seeds": [0, 1], "cache": False}


async def prepared(tmp_path: Path) -> tuple[RunPaths, RunStore]:
    paths = make_run(tmp_path / "run", evaluator={"seeds": 2}, task={"size": 2000})
    await asyncio.to_thread(prepare, paths.root)
    return paths, await RunStore.open(paths.db, create=True)


@contextlib.asynccontextmanager
async def on_ray(
    paths: RunPaths,
    store: RunStore,
    config: RayConfig,
    views: list[EvalClusterChanged] | None = None,
    *,
    job_timeout_s: float = 300,
) -> AsyncIterator[Any]:
    from evaluator.daemon.ray_pool import RayPool

    shown = views if views is not None else []
    pool = RayPool(
        paths, store, config, job_timeout_s=job_timeout_s, announce=shown.append, poll_s=0.1, nodes_every_s=0.3
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    try:
        yield pool
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


@contextlib.asynccontextmanager
async def on_local(paths: RunPaths, store: RunStore) -> AsyncIterator[None]:
    from evaluator.daemon.pool import WorkerPool

    pool = WorkerPool(paths, store, ["cpu:0"], job_timeout_s=300, poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def jobs_of(store: RunStore, ids: list[int]) -> list[JobRow]:
    return [j for j in [await store.job(i) for i in ids] if j is not None]


async def all_done(store: RunStore, ids: list[int], timeout: float = 240) -> list[JobRow]:
    async def done() -> list[JobRow] | None:
        jobs = await jobs_of(store, ids)
        assert not [j for j in jobs if j.status == "failed"], [(j.id, j.error) for j in jobs]
        return jobs if len(jobs) == len(ids) and all(j.status == "done" for j in jobs) else None

    return await eventually(done, timeout=timeout, what=f"jobs {ids} to finish", interval=0.2)


def per_seed(metrics: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["seed"], r["acc_weak"], r["acc_ceiling"], r["acc_transfer"]) for r in metrics["per_seed"]]


async def test_the_same_scores_per_seed_as_the_local_worker(tmp_path: Path, ray_cluster: LocalCluster) -> None:
    paths, store = await prepared(tmp_path)
    try:
        local = await store.enqueue_job("baselines", BASELINES)
        async with on_local(paths, store):
            await all_done(store, [local])
        remote = await store.enqueue_job("baselines", BASELINES)
        async with on_ray(paths, store, RayConfig(address=ray_cluster.address, num_cpus=1)):
            [job] = await all_done(store, [remote])
        results = {r.job_id: r for r in await store.results() if r.metrics.get("baseline") == "vanilla"}
        here, there = results[local], results[remote]
        assert per_seed(there.metrics) == per_seed(here.metrics)
        assert (there.pgr, there.ci_low, there.ci_high) == (here.pgr, here.ci_low, here.ci_high)
        # Recorded by the daemon's pool, which names the node the task ran on.
        nodes = {ray_cluster.node_id(ray_cluster.head), ray_cluster.node_id(ray_cluster.second)}
        assert job.worker == "ray" and job.device.split("@")[0] == "cpu" and job.device.split("@")[1] in nodes
        assert job.device_s > 0 and job.attempts == 1
    finally:
        await store.close()


async def test_a_job_whose_task_raises_its_own_error_fails_at_once_with_it(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """A prediction file of the wrong length is the submission's fault (``JobError``): raised on the node, it
    comes back through Ray and fails the job at once, with the same line a local worker records."""
    paths, store = await prepared(tmp_path)
    try:
        job_id = await store.enqueue_job("predictions", {"predictions": [1.0, 0.0, 1.0]})
        async with on_ray(paths, store, RayConfig(address=ray_cluster.address, num_cpus=1)):

            async def failed() -> JobRow | None:
                job = await store.job(job_id)
                return job if job is not None and job.status == "failed" else None

            job = await eventually(failed, timeout=120, what="the job to fail", interval=0.1)
        assert job.attempts == 1 and job.detail == "failed; not retried"
        assert job.error.startswith("JobError: 3 predictions for ") and job.error.endswith(" feedback inputs"), (
            job.error
        )
        assert await store.results() == []
    finally:
        await store.close()


async def test_a_job_past_its_timeout_is_cancelled_and_failed_not_taken_for_a_lost_node(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """A forced cancel makes the task's ref raise WorkerCrashedError, the error a lost node gives: the pool
    knows it cancelled the job, so it fails it as timed out, once, rather than requeueing it; the copy of the
    run folder the task had is gone once the pool stops."""
    paths, store = await prepared(tmp_path)
    try:
        job_id = await store.enqueue_job("baselines", BASELINES)
        config = RayConfig(address=ray_cluster.address, num_cpus=1)
        async with on_ray(paths, store, config, job_timeout_s=1.0):

            async def failed() -> JobRow | None:
                job = await store.job(job_id)
                return job if job is not None and job.status == "failed" else None

            job = await eventually(failed, timeout=120, what="the job to time out", interval=0.1)
        assert (job.error, job.detail, job.attempts) == ("timed out after 1s", "killed; not retried", 1)
        assert await store.results() == []
        # The forced cancel skipped the task's `finally`: the sweep the pool sent every node at shutdown removed
        # the copy it left (the cluster's nodes share this machine's copies folder).
        assert not list(Path(os.environ["AAR_RAY_COPIES"]).glob("job-*"))
    finally:
        await store.close()


async def test_two_jobs_that_each_ask_for_a_gpu_never_share_one(tmp_path: Path, ray_cluster: LocalCluster) -> None:
    """Each node declares one GPU; two jobs asking for one GPU each (and no CPU) run at once, one per node."""
    paths, store = await prepared(tmp_path)
    views: list[EvalClusterChanged] = []
    try:
        ids = [await store.enqueue_job("baselines", {"seeds": [0, 1, 2], "cache": False}) for _ in range(2)]
        config = RayConfig(address=ray_cluster.address, num_cpus=0, num_gpus=1)
        async with on_ray(paths, store, config, views) as pool:

            async def both_placed() -> list[JobRow] | None:
                jobs = await jobs_of(store, ids)
                return jobs if all(j.status == "running" and "@" in j.device for j in jobs) else None

            running = await eventually(both_placed, timeout=120, what="both jobs placed", interval=0.1)
            assert pool.room == 2
            assert len({j.device.split("@")[1] for j in running}) == 2, [j.device for j in running]
            assert {j.device.split("@")[0] for j in running} == {"cuda:0"}
            await all_done(store, ids)
        busy = [v for v in views if sum(len(n.jobs) for n in v.nodes) == 2]
        assert busy, [v.headline() for v in views]
        assert busy[0].headline() == "2/2 nodes · GPUs 2/2 busy · 2 jobs running"
        assert sorted(j for n in busy[0].nodes for j in n.jobs) == sorted(ids)
    finally:
        await store.close()


async def test_a_node_that_dies_mid_job_loses_nothing(tmp_path: Path, ray_cluster: LocalCluster) -> None:
    """A third node joins the session's cluster (no second cluster on a two-core machine) and is killed (its
    raylet and workers, -9) while it runs a job: the job is requeued without spending a retry, finishes on
    another node, and the results recorded before are kept as they were. Last in the file: the dead node stays
    listed (not alive) for the rest of the session."""
    doomed_node = add_node(ray_cluster, num_cpus=1)
    paths, store = await prepared(tmp_path)
    try:
        config = RayConfig(address=ray_cluster.address, num_cpus=1)
        doomed_id = ray_cluster.node_id(doomed_node)
        async with on_ray(paths, store, config):
            first = await store.enqueue_job("baselines", BASELINES)
            await all_done(store, [first])
            before = [r.model_dump() for r in await store.results()]
            ids = [await store.enqueue_job("baselines", {"seeds": [0, 1, 2, 3], "cache": False}) for _ in range(3)]

            async def under_way_on_doomed() -> JobRow | None:
                on = [j for j in await jobs_of(store, ids) if j.device.endswith(doomed_id) and j.progress > 0]
                return on[0] if on else None

            doomed = await eventually(under_way_on_doomed, timeout=180, what="a job under way on node 3", interval=0.1)
            ray_cluster.cluster.remove_node(doomed_node, allow_graceful=False)
            jobs = await all_done(store, ids, timeout=400)
        again = next(j for j in jobs if j.id == doomed.id)
        assert again.attempts == 1 and not again.device.endswith(doomed_id), again
        assert [r.model_dump() for r in await store.results() if r.job_id == first] == before
        assert len({r.job_id for r in await store.results()}) == 4
    finally:
        await store.close()
        if doomed_node in ray_cluster.cluster.worker_nodes:
            ray_cluster.cluster.remove_node(doomed_node)
        await _until_the_cluster_counts(ray_cluster, 2)


async def _until_the_cluster_counts(local: LocalCluster, nodes: int) -> None:
    """Until the cluster's own count of live nodes is back to ``nodes``: the head notices a node killed -9
    only after its health checks fail, and a test after this one reads that count (``check_cluster``)."""
    from evaluator.daemon.ray_cluster import check_cluster

    async def counted() -> bool:
        line = check_cluster(RayConfig(address=local.address))  # on this thread, as the later test calls it
        return line.startswith(f"ray cluster {local.address}: {nodes} nodes")

    await eventually(counted, timeout=120, what=f"the cluster counting {nodes} live nodes again", interval=1.0)
