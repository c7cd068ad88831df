"""A worker that hangs without dying (frozen with SIGSTOP mid-job) stops beating: its supervisor kills it,
puts its job back in the queue, says so as an error (an inbox item), and the restarted worker finishes the
job. Time is the supervisor's clock, moved by hand: nothing is judged hung until the test says time passed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from aar.events import LogLevel, RunLog
from aar.inbox import catch_up
from aar.store import RunStore
from evaluator.compute.prepare import prepare
from evaluator.daemon.supervisor import WorkerSupervisor
from evaluator.daemon.worker import heartbeat_file
from tests.agents.helpers import events
from tests.evaluator.helpers import make_run
from tests.support import FakeClock, eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # a real evaluator worker, frozen and killed


async def test_a_hung_worker_is_killed_and_its_job_requeued(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run", evaluator={"seeds": 2, "device": "cpu"}, task={"size": 2000})
    await asyncio.to_thread(prepare, paths.root)
    clock = FakeClock()
    store = await RunStore.open(paths.db, create=True)
    said: list[tuple[str, str]] = []

    def notify(level: LogLevel, message: str) -> None:
        said.append((level, message))
        store.emit(None, RunLog(level=level, message=message))

    supervisor = WorkerSupervisor(
        paths, store, job_timeout_s=600, poll_s=0.05, heartbeat_timeout_s=30, clock=clock, notify=notify
    )
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    frozen = 0
    try:
        job_id = await store.enqueue_job("baselines", {"seeds": [0, 1, 2, 3, 4, 5], "cache": False})

        async def mid_job() -> bool:
            job = await store.job(job_id)
            return job is not None and job.status == "running" and job.progress > 0

        await eventually(mid_job, timeout=120, what="the job to report progress", interval=0.1)
        assert heartbeat_file(paths, supervisor.name).exists(), "the worker beats"
        first, frozen = supervisor.name, supervisor.pid or 0
        os.kill(frozen, signal.SIGSTOP)

        def judged_hung() -> bool:
            clock.advance(31)  # each look moves time past the timeout: only a beat that stopped stays still
            return supervisor.hung == 1

        await eventually(judged_hung, timeout=30, what="the frozen worker to be judged hung")
        assert not Path(f"/proc/{frozen}").exists(), "the frozen worker was killed (and reaped)"
        job = await store.job(job_id)
        assert job is not None and job.status in ("queued", "running") and "hung" in job.error
        level, message = next((level, m) for level, m in said if "hung" in m)
        assert level == "error"
        assert message.startswith(f"evaluator worker {first} hung: no heartbeat for ")
        assert message.endswith(f"; killed it; job(s) {job_id} back in the queue")

        async def finished() -> bool:
            job = await store.job(job_id)
            return job is not None and job.status in ("done", "failed")

        await eventually(finished, timeout=180, what="the requeued job to finish", interval=0.1)
        job = await store.job(job_id)
        assert job is not None and job.status == "done" and job.attempts == 2, job
        assert supervisor.restarts == 1
        await store.flush()
        await catch_up(store)
        [item] = [i for i in await store.inbox() if "hung" in i.summary]
        assert item.kind == "error"
        assert [e.payload.level for e in await events(store, RunLog) if "hung" in e.payload.message] == ["error"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        if frozen and Path(f"/proc/{frozen}").exists():
            os.kill(frozen, signal.SIGKILL)
        await store.close()
