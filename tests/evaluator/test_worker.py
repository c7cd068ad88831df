"""The real worker process under its real supervisor: crashes, retries, kill -9, and no lost job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from evaluator.compute.prepare import prepare
from evaluator.daemon.supervisor import WorkerSupervisor
from tests.evaluator.helpers import interval, make_run
from tests.support import eventually

pytestmark = pytest.mark.slow  # runs the evaluator worker process (torch training)


@contextlib.asynccontextmanager
async def supervised(
    tmp_path: Path, *, job_timeout_s: float = 120, **sections: dict[str, object]
) -> AsyncIterator[tuple[RunPaths, RunStore, WorkerSupervisor]]:
    """A prepared toy run (2 seeds, unless ``sections`` say otherwise) with its worker started by the supervisor."""
    defaults: dict[str, dict[str, object]] = {"evaluator": {"seeds": 2}, "task": {"size": 2000}}
    paths = make_run(tmp_path / "run", **{**defaults, **sections})
    await asyncio.to_thread(prepare, paths.root)
    store = await RunStore.open(paths.db, create=True)
    supervisor = WorkerSupervisor(paths, store, job_timeout_s=job_timeout_s, poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    try:
        yield paths, store, supervisor
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        await store.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[RunPaths, RunStore, WorkerSupervisor]]:
    async with supervised(tmp_path) as parts:
        yield parts


async def _job(store: RunStore, job_id: int) -> JobRow:
    job = await store.job(job_id)
    assert job is not None
    return job


async def test_worker_killed_mid_job_requeues_and_completes(
    running: tuple[RunPaths, RunStore, WorkerSupervisor],
) -> None:
    _paths, store, supervisor = running
    # Six seeds of baselines, no earlier cache: long enough to be caught mid-job.
    job_id = await store.enqueue_job("baselines", {"seeds": [0, 1, 2, 3, 4, 5]})

    async def mid_job() -> bool:
        job = await _job(store, job_id)
        return job.status == "running" and job.progress > 0

    await eventually(mid_job, timeout=60, what="the job to report progress", interval=0.1)
    first_pid = supervisor.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)

    async def finished() -> bool:
        return (await _job(store, job_id)).status in ("done", "failed")

    await eventually(finished, timeout=90, what="the requeued job to finish", interval=0.1)
    job = await _job(store, job_id)
    assert job.status == "done", job.error
    assert job.attempts == 2, "the killed attempt counts, the second one completed"
    assert supervisor.pid != first_pid and supervisor.restarts == 1
    result, unsupervised = [r for r in await store.results() if r.job_id == job_id]
    assert (result.metrics["baseline"], unsupervised.metrics["baseline"]) == ("vanilla", "unsupervised")
    low, estimate, high = interval(result)
    assert low < estimate < high
    assert len(result.metrics["per_seed"]) == 6
    assert "final" not in {r.split for r in await store.results()}


async def test_a_job_that_raises_a_job_error_fails_at_once(
    running: tuple[RunPaths, RunStore, WorkerSupervisor],
) -> None:
    _, store, supervisor = running
    # The worker re-checks what it scores: a prediction list of the wrong length raises inside the job.
    bad = await store.enqueue_job("predictions", {"predictions": [0, 1, 1], "submission_id": None})
    malformed = await store.enqueue_job("method", {"seeds": [0], "filename": "m.py"})
    good = await store.enqueue_job("baselines", {"seeds": [0]})

    async def settled() -> bool:
        failed = [(await _job(store, j)).status == "failed" for j in (bad, malformed)]
        return all(failed) and (await _job(store, good)).status == "done"

    await eventually(settled, timeout=90, what="the jobs to settle", interval=0.1)
    job = await _job(store, bad)
    assert job.attempts == 1, "the submission's own fault is not retried"
    assert "JobError: 3 predictions for 1000 feedback inputs" in job.error
    assert f"JobError: job {malformed} (method): submission_id: Field required" in (await _job(store, malformed)).error
    assert supervisor.restarts == 0, "a raising job does not take the worker down"


async def test_a_job_past_its_timeout_is_killed_and_failed_without_a_retry(tmp_path: Path) -> None:
    async with supervised(tmp_path, job_timeout_s=1.0) as (_, store, supervisor):
        job_id = await store.enqueue_job("baselines", {"seeds": list(range(8)), "cache": False})

        async def settled() -> bool:
            return (await _job(store, job_id)).status in ("done", "failed")

        await eventually(settled, timeout=90, what="the job to time out", interval=0.1)
        job = await _job(store, job_id)
        assert job.status == "failed" and job.attempts == 1
        assert job.error.startswith("timed out after 1s") and "attempt 1 of 2" in job.error

        async def restarted() -> bool:
            return supervisor.restarts == 1 and supervisor.process is not None and supervisor.process.is_alive()

        await eventually(restarted, timeout=30, what="a fresh worker after the kill", interval=0.1)


def test_a_worker_whose_daemon_died_before_it_started_exits_at_once(tmp_path: Path) -> None:
    """The daemon killed while its worker was spawning: the worker, already init's child, must not live on."""
    import multiprocessing
    import subprocess

    from evaluator.daemon.worker import worker_main

    child = subprocess.Popen(["true"])  # a pid that was a process and is no longer
    child.wait()
    paths = make_run(tmp_path / "run")
    process = multiprocessing.get_context("spawn").Process(
        target=worker_main, args=(str(paths.root), "worker-orphan", 0.05, "cpu", child.pid)
    )
    process.start()
    process.join(60)  # a bound, not a wait: the worker returns within its start-up
    assert process.exitcode == 3, "a worker spawned for a daemon that is gone exits before taking jobs"


KILLED_BY_SIGKILL = """
import os
import signal

def run(ctx):
    os.kill(os.getpid(), signal.SIGKILL)  # as a kill -9 from outside the sandbox would end it
"""


async def test_a_method_killed_by_sigkill_is_retried_not_failed_as_its_own_fault(
    running: tuple[RunPaths, RunStore, WorkerSupervisor],
) -> None:
    """kill -9 of a verification's sandbox is the machine's fault (the chaos bench's sandbox kill failed
    honest methods for good, charged to their agents): the job is retried. A method that kills itself so is
    retried once, then fails as any job that keeps failing."""
    _, store, supervisor = running
    sub = await store.add_submission("agent-1", "method", {"filename": "dies.py"}, label="dies.py")
    spec = {"submission_id": sub, "filename": "dies.py", "source": KILLED_BY_SIGKILL, "seeds": [0]}
    job_id = await store.enqueue_job("method", spec, submission_id=sub)

    async def settled() -> bool:
        return (await _job(store, job_id)).status in ("done", "failed")

    await eventually(settled, timeout=240, what="the method job to settle", interval=0.1)
    job = await _job(store, job_id)
    assert job.status == "failed" and job.attempts == 2, job
    assert "KilledFromOutside: seed 0: the method's process was killed (SIGKILL)" in job.error
    assert supervisor.restarts == 0
