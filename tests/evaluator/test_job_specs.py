"""Job specs cross the store as models: what the daemon enqueues is what the worker reads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aar.store import RunStore
from evaluator.daemon.job_specs import (
    BaselinesJob,
    FinalJob,
    JobError,
    JobSpec,
    MethodJob,
    PredictionsJob,
    enqueue,
    read_spec,
)


async def test_each_spec_reads_back_as_written(tmp_path: Path) -> None:
    specs: list[JobSpec] = [
        BaselinesJob(seeds=[0, 1], cache=False),
        BaselinesJob(),
        PredictionsJob(predictions=[0, 1, 1], submission_id=4),
        MethodJob(submission_id=5, filename="mine.py", source="def run(ctx):\n    return 0\n", seeds=[0]),
        FinalJob(seeds=[0, 1, 2]),
    ]
    async with await RunStore.open(tmp_path / "run.db", create=True) as store:
        ids = [await enqueue(store, spec) for spec in specs]
        jobs = [await store.job(i) for i in ids]
    assert [job.kind for job in jobs if job] == ["baselines", "baselines", "predictions", "method", "final"]
    assert [read_spec(job) for job in jobs if job] == specs
    assert [job.spec for job in jobs if job] == specs, "the row reads its spec back as the model"
    with sqlite3.connect(tmp_path / "run.db") as raw:
        (stored,) = raw.execute("SELECT spec FROM eval_jobs WHERE id = ?", (ids[0],)).fetchone()
    assert "kind" not in json.loads(stored), "the kind lives in its own column"


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("predictions", {"predictions": [0, 2]}, "predictions.1: Input should be less than or equal to 1"),
        ("method", {"source": "x"}, "submission_id: Field required"),
        ("baselines", {"seeds": [0], "cahce": False}, "cahce: Extra inputs are not permitted"),
        ("score", {}, "unknown job kind 'score' (known: baselines, predictions, method, transfer, final)"),
    ],
)
async def test_a_malformed_spec_is_one_line(tmp_path: Path, kind: str, spec: dict[str, object], expected: str) -> None:
    async with await RunStore.open(tmp_path / "run.db", create=True) as store:
        job = await store.job(await store.enqueue_job(kind, spec))
    assert job is not None
    with pytest.raises(JobError) as caught:
        read_spec(job)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
