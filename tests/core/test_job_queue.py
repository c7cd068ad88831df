"""The evaluator's job queue on a real SQLite file: fair across agents, and device time charged once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from aar.store import RunStore
from aar.store.schema import MIGRATIONS
from tests.support import FakeClock, found


async def _method(store: RunStore, agent: str) -> int:
    sub = await store.add_submission(agent, "method", {"filename": f"{agent}.py", "source": ""})
    return await store.enqueue_job("method", {"submission_id": sub}, submission_id=sub)


async def test_baselines_first_then_round_robin_over_agents(timed_store: RunStore, clock: FakeClock) -> None:
    store = timed_store
    greedy = [await _method(store, "ann") for _ in range(4)]
    bob = await _method(store, "bob")
    cy = [await _method(store, "cy") for _ in range(2)]
    baselines = await store.enqueue_job("baselines", {"seeds": [0]})
    order = []
    while (job := await store.claim_job("w", device="cpu:0")) is not None:
        order.append(job.id)
        clock.advance(1)  # claims are ordered by time: each one a second after the last
    # ann submitted four before anyone else, yet bob and cy are served in turn with her.
    assert order == [baselines, greedy[0], bob, cy[0], greedy[1], cy[1], greedy[2], greedy[3]]


async def test_a_requeued_agent_waits_for_its_turn(store: RunStore) -> None:
    first = await _method(store, "ann")
    claimed = await store.claim_job("w1", device="cuda:0")
    assert claimed is not None and claimed.id == first and claimed.device == "cuda:0"
    second = await _method(store, "ann")
    bob = await _method(store, "bob")
    assert await store.requeue_running(worker="w1") == [first]
    # ann was served last, so bob goes next; then ann's oldest job (the requeued one).
    assert [found(await store.claim_job("w2", device="cuda:1")).id for _ in range(3)] == [bob, first, second]


async def test_device_seconds_are_charged_once_per_attempt(timed_store: RunStore, clock: FakeClock) -> None:
    store = timed_store
    job_id = await _method(store, "ann")
    await store.claim_job("w1", device="cpu:0")
    clock.advance(30)
    await store.update_job(job_id, progress=0.5)  # progress does not end the attempt
    assert found(await store.job(job_id)).device_s == 0
    clock.advance(10)
    await store.requeue_running(worker="w1")  # the worker died: its time is still counted
    killed = found(await store.job(job_id)).device_s
    assert killed == 40
    clock.advance(100)  # queued again: waiting is not device time
    await store.claim_job("w2", device="cpu:1")
    clock.advance(20)
    await store.update_job(job_id, status="done", progress=1.0)
    clock.advance(5)
    await store.update_job(job_id, detail="a later note")  # charges nothing more
    job = await store.job(job_id)
    assert job is not None and job.device == "cpu:1"
    assert job.device_s == killed + 20
    (row,) = await store.device_time()
    assert row["agent"] == "ann" and row["device"] == "cpu:1" and row["jobs"] == 1
    assert row["seconds"] == job.device_s


async def test_jobs_of_an_older_store_read_back_with_no_device(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(MIGRATIONS[0] + MIGRATIONS[1])
        raw.execute("PRAGMA user_version = 2")
        raw.execute(
            "INSERT INTO eval_jobs (ts, kind, spec, status, updated_ts) VALUES (1, 'baselines', '{}', 'done', 1)"
        )
    async with await RunStore.open(db) as store:
        (job,) = await store.jobs()
        assert (job.kind, job.device, job.device_s, job.claimed_ts) == ("baselines", "", 0.0, None)
