"""The real worker pool: one spawned worker per device, jobs in parallel, each job's device and time recorded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.compute.prepare import prepare
from evaluator.daemon.pool import WorkerPool
from tests.evaluator.helpers import make_run
from tests.support import eventually

pytestmark = pytest.mark.slow  # runs two evaluator worker processes

DEVICES = ["cpu:0", "cpu:1"]


@contextlib.asynccontextmanager
async def pooled(tmp_path: Path, devices: list[str] = DEVICES) -> AsyncIterator[tuple[RunPaths, RunStore, WorkerPool]]:
    """A prepared toy run whose evaluator pool holds ``devices``, one worker each."""
    paths = make_run(tmp_path / "run", evaluator={"seeds": 2}, task={"size": 2000}, devices={"evaluator": devices})
    await asyncio.to_thread(prepare, paths.root)
    store = await RunStore.open(paths.db, create=True)
    pool = WorkerPool(paths, store, devices, job_timeout_s=120, poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    try:
        yield paths, store, pool
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()


def _allowed_cpus(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return ""


async def test_jobs_run_in_parallel_one_per_device(tmp_path: Path) -> None:
    async with pooled(tmp_path) as (_, store, pool):
        ids = [await store.enqueue_job("baselines", {"seeds": [0, 1, 2], "cache": False}) for _ in range(2)]

        async def both_running() -> bool:
            jobs = [await store.job(i) for i in ids]
            return all(j is not None and j.status == "running" for j in jobs)

        await eventually(both_running, timeout=60, what="both jobs to run at once", interval=0.1)
        running = [await store.job(i) for i in ids]
        assert sorted(j.device for j in running if j) == DEVICES
        # Each worker holds its one core: a CPU device stands in for a GPU.
        assert [_allowed_cpus(pool.supervisor(d).pid or 0) for d in DEVICES] == ["0", "1"]

        async def done() -> bool:
            jobs = [await store.job(i) for i in ids]
            return all(j is not None and j.status == "done" for j in jobs)

        await eventually(done, timeout=120, what="both jobs to finish", interval=0.1)
        jobs = [await store.job(i) for i in ids]
        assert all(j is not None and j.device_s > 0 and j.attempts == 1 for j in jobs)
        results = await store.results()
        assert sorted(r.job_id for r in results) == sorted(ids * 2), "vanilla and the unsupervised reference"
        assert {r.metrics["device"] for r in results} == {"cpu"}
        per_device = {row["device"]: row["seconds"] for row in await store.device_time()}
        assert sorted(per_device) == DEVICES
