"""kill -9 of the worker during a transfer job: the job is requeued, finishes, and scores once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from aar.store import TRANSFER_SPLIT
from tests.evaluator.test_worker import _job, supervised
from tests.support import eventually

pytestmark = pytest.mark.slow  # kills a real evaluator worker in the middle of a sandboxed method run

TARGET = {"name": "classic", "task": {"name": "toy", "variant": "classic", "size": 600}, "seeds": 2}
SOURCE = "from evaluator.compute.methods import vanilla\n\n\ndef run(ctx):\n    return vanilla.run(ctx, epochs=6)\n"


async def test_a_killed_transfer_job_is_requeued_and_scored_once(tmp_path: Path) -> None:
    async with supervised(tmp_path, sandbox={"backend": "local"}, transfer={"targets": [TARGET]}) as (
        _,
        store,
        supervisor,
    ):
        sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": SOURCE})
        spec = {"submission_id": sid, "target": "classic", "filename": "m.py", "source": SOURCE}
        job_id = await store.enqueue_job("transfer", spec, submission_id=sid)

        async def in_the_sandbox() -> bool:  # past its target's bundle and baselines (the first fifth)
            job = await _job(store, job_id)
            return job.status == "running" and job.progress > 0.2

        await eventually(in_the_sandbox, timeout=120, what="the transfer job to reach its sandbox", interval=0.1)
        first_pid = supervisor.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)

        async def finished() -> bool:
            return (await _job(store, job_id)).status in ("done", "failed")

        await eventually(finished, timeout=180, what="the requeued transfer job to finish", interval=0.1)
        job = await _job(store, job_id)
        assert job.status == "done", job.error
        assert job.attempts == 2 and supervisor.restarts == 1
        (result,) = await store.results(split=TRANSFER_SPLIT)
        assert (result.job_id, result.target, len(result.metrics["per_seed"])) == (job_id, "classic", 2)
        assert await store.results() == [], "nothing on the home task's splits"
