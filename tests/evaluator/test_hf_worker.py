"""The real worker records a jsonl job's training throughput with the job, the sandbox's share included."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from aar.store import RunStore
from evaluator.compute.prepare import prepare
from evaluator.daemon.supervisor import WorkerSupervisor
from tests.evaluator.helpers import make_run
from tests.evaluator.test_worker import _job
from tests.support import eventually
from tui.text import throughput_line

pytestmark = pytest.mark.slow  # HF training in the evaluator worker

METHOD = """
from evaluator.compute.methods import vanilla

def run(ctx):
    return vanilla.run(ctx, epochs=1)
"""


async def test_a_jsonl_baselines_job_records_its_throughput(tiny_hf: dict[str, Path], tmp_path: Path) -> None:
    paths = make_run(
        tmp_path / "run",
        evaluator={"seeds": 1, "device": "cpu"},
        task={
            "name": "jsonl",
            "data_dir": str(tiny_hf["data"]),
            "weak_model": str(tiny_hf["weak"]),
            "strong_model": str(tiny_hf["strong"]),
        },
        training={"max_tokens_per_batch": 128},
        sandbox={"backend": "local"},
    )
    await asyncio.to_thread(prepare, paths.root)
    assert list((paths.evaluator_dir / "cache").glob("jsonl-*/tokens-v1/*.npz")), "prepare tokenized beside its cache"
    store = await RunStore.open(paths.db, create=True)
    stop = asyncio.Event()
    supervisor = asyncio.create_task(WorkerSupervisor(paths, store, job_timeout_s=600, poll_s=0.1).run(stop))
    try:
        job_id = await store.enqueue_job("baselines", {"seeds": [0]})

        async def done() -> bool:
            return (await _job(store, job_id)).status in ("done", "failed")

        await eventually(done, timeout=240, what="the baselines job", interval=0.1)
        job = await _job(store, job_id)
        # A method submission re-run in a fresh local sandbox: its training is counted with its job.
        sub = await store.add_submission("agent-1", "method", {"filename": "mine.py"}, label="mine.py")
        spec = {"submission_id": sub, "filename": "mine.py", "source": METHOD, "seeds": [0]}
        method_id = await store.enqueue_job("method", spec, submission_id=sub)

        async def method_done() -> bool:
            return (await _job(store, method_id)).status in ("done", "failed")

        await eventually(method_done, timeout=300, what="the method job", interval=0.1)
        method = await _job(store, method_id)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(supervisor, 30)
        await store.close()
    assert job.status == "done", job.error
    # The weak model came from prepare's cache; the ceiling and vanilla trained here, 2 epochs of 60 rows each.
    assert job.stats.examples == 2 * 2 * 60
    assert job.stats.examples_per_s > 0 and job.stats.memory_kind == "rss"
    assert 0 <= job.stats.padding_share < 1 and job.stats.real_tokens > 0
    assert "ex/s" in throughput_line(job.stats) and "tok/s" in throughput_line(job.stats)
    assert method.status == "done", method.error
    # One epoch of the strong model on train_unlabel in the sandbox for seed 0, and one more for the canary
    # (the same method on another weak model's labels, trained by prepare): the job's figures count all
    # the training it paid for.
    assert method.stats.examples == 2 * 60
    assert method.stats.real_tokens > 0 and method.stats.tokens_per_s > 0
