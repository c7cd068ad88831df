"""A job's training throughput in the store: the migration that adds it, the round trip, the line people read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aar.eval_jobs import JobStats
from aar.store import RunStore
from aar.store.schema import MIGRATIONS
from tui.text import throughput_line

STATS = JobStats(
    examples=512,
    examples_per_s=812.4,
    tokens_per_s=41234.0,
    padding_share=0.087,
    peak_memory_mb=1228.8,
    memory_kind="cuda",
    mfu=0.381,
)


async def test_an_older_store_gains_job_stats_and_keeps_its_jobs(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(MIGRATIONS[0])
        raw.executescript(MIGRATIONS[1])
        raw.execute("PRAGMA user_version = 2")
        raw.execute(
            "INSERT INTO eval_jobs (ts, kind, spec, status, updated_ts) VALUES (1, 'baselines', '{}', 'done', 1)"
        )
    async with await RunStore.open(db) as store:
        (old,) = await store.jobs()
        assert (
            old.kind == "baselines"
            and old.status == "done"
            and old.stats == JobStats()
            and throughput_line(old.stats) == ""
        )
        job_id = await store.enqueue_job("baselines", {"seeds": [0]})
        await store.update_job(job_id, status="done", stats=STATS)
        job = await store.job(job_id)
        assert job is not None and job.stats == STATS
        assert throughput_line(job.stats) == "812 ex/s · 41.2k tok/s · pad 9% · 1.2 GB cuda · MFU 38%"


def test_the_line_leaves_out_what_is_unknown() -> None:
    cpu = STATS.model_copy(update={"memory_kind": "rss", "mfu": None, "tokens_per_s": 950.0})
    assert throughput_line(cpu) == "812 ex/s · 950 tok/s · pad 9% · 1.2 GB rss"
    assert throughput_line(JobStats()) == "" and throughput_line(STATS.model_copy(update={"examples": 0})) == ""
