"""kill -9 one worker of a two-device pool mid-job: the job moves to the other device and nothing is lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.evaluator.test_pool import DEVICES, pooled
from tests.support import eventually

pytestmark = pytest.mark.slow  # kills a real evaluator worker process


async def test_a_killed_workers_job_finishes_on_the_other_device(tmp_path: Path) -> None:
    async with pooled(tmp_path) as (_, store, pool):
        job_id = await store.enqueue_job("baselines", {"seeds": [0, 1, 2, 3, 4, 5], "cache": False})

        async def mid_job() -> bool:
            job = await store.job(job_id)
            return job is not None and job.status == "running" and job.progress > 0

        await eventually(mid_job, timeout=60, what="the job to report progress", interval=0.1)
        first = await store.job(job_id)
        assert first is not None and first.device in DEVICES
        victim = pool.supervisor(first.device)
        assert victim.pid is not None
        killed_at = time.time()
        os.kill(victim.pid, signal.SIGKILL)

        async def finished() -> bool:
            job = await store.job(job_id)
            return job is not None and job.status in ("done", "failed")

        await eventually(finished, timeout=120, what="the requeued job to finish", interval=0.1)
        job = await store.job(job_id)
        assert job is not None and job.status == "done", job.error if job else None
        (other,) = [d for d in DEVICES if d != first.device]
        assert job.device == other, "the idle worker took it while the dead one restarted"
        assert job.attempts == 2
        # Both attempts are charged: the killed one up to the kill, and the one that finished.
        assert first.claimed_ts is not None and job.claimed_ts is not None
        assert job.device_s >= (killed_at - first.claimed_ts) + (job.updated_ts - job.claimed_ts) - 1
        results = [r for r in await store.results() if r.job_id == job_id]
        assert sorted(str(r.metrics["baseline"]) for r in results) == ["unsupervised", "vanilla"]
        (vanilla,) = [r for r in results if r.metrics["baseline"] == "vanilla"]
        assert len(vanilla.metrics["per_seed"]) == 6
        assert victim.restarts == 1 and victim.pid is not None and victim.process is not None
        assert victim.process.is_alive()
