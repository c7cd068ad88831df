"""One job's run and its record, the same wherever it runs: a local worker process or a Ray task.

:func:`run_job` does the job with every integrity check (the torch side loads in the caller's
process); :func:`record_done` and :func:`record_failure` write what came of it. A local worker
calls all three itself (it writes only jobs and results); on a Ray cluster the task calls
:func:`run_job` and the daemon, the store's one writer, records what the task returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aar.eval_jobs import JobStats
from aar.store import JobRow
from aar.store.protocols import WorkerStore
from evaluator.daemon.job_specs import (
    BaselinesJob,
    FinalJob,
    JobError,
    MethodJob,
    PredictionsJob,
    TransferJob,
    read_spec,
)
from evaluator.daemon.scoring import Scored

if TYPE_CHECKING:
    from evaluator.daemon.jobs import Evaluation, Report

MAX_ATTEMPTS = 2
"""A job runs at most twice: once, and once more after an unexpected error or a dead worker (or a lost node).
A ``JobError`` (the submission's own fault: a method that fails, a malformed file) and a run past
``job_timeout_s`` are final at once, so one submission holds a device for one timeout at most."""


async def run_job(ev: Evaluation, job: JobRow, report: Report) -> list[Scored]:
    """The job's results; raises ``JobError`` when the job cannot be done as specified."""
    from evaluator.daemon import jobs

    match read_spec(job):
        case BaselinesJob() as spec:
            return await asyncio.to_thread(jobs.run_baselines, ev, spec, report)
        case PredictionsJob() as spec:
            return await asyncio.to_thread(jobs.run_predictions, ev, spec, report)
        case MethodJob() as spec:
            return await jobs.run_method_job(ev, spec, report)
        case TransferJob() as spec:
            return await jobs.run_transfer_job(ev, spec, report)
        case FinalJob():
            raise JobError("a final job records `aar report --final`; the worker has nothing to run")


async def record_done(
    store: WorkerStore, job: JobRow, results: Sequence[Scored], *, job_s: float, stats: JobStats, detail: str
) -> None:
    """Write the job's results (once: a retried job whose first attempt wrote them keeps those) and mark it done."""
    already = (
        {r.job_id for r in await store.results(submission_id=job.submission_id, include_transfer=True)}
        if job.submission_id
        else set()
    )
    if job.id not in already:
        for r in results:
            await store.add_result(
                job.id,
                submission_id=job.submission_id,
                split=r.split,
                pgr=r.pgr,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                metrics={**r.metrics, "job_s": round(job_s, 3)},
                flags=r.flags,
            )
    await store.update_job(job.id, status="done", progress=1.0, detail=detail, error="", stats=stats)


async def record_failure(
    store: WorkerStore, job: JobRow, error: str, *, final: bool, max_attempts: int = MAX_ATTEMPTS
) -> None:
    """A failed attempt: back in the queue while attempts remain (of ``max_attempts``), else (or when ``final``)
    failed with ``error``."""
    if final:
        await store.update_job(job.id, status="failed", error=error, detail="failed; not retried")
    elif job.attempts < max_attempts:
        await store.update_job(job.id, status="queued", error=error, detail=f"attempt {job.attempts} failed; retrying")
    else:
        await store.update_job(job.id, status="failed", error=error, detail=f"failed after {job.attempts} attempts")
