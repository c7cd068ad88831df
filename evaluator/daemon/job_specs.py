"""What an evaluator job asks for: the daemon writes a spec into ``eval_jobs``, the worker reads it.

The spec models live in the kernel (``aar.eval_jobs``) because ``JobRow`` reads them back;
:func:`enqueue` writes one and :func:`read_spec` hands the worker its model, so a malformed spec
fails the job with one line instead of a ``KeyError`` in the worker.
No torch or numpy here: the daemon imports this module.
"""

from __future__ import annotations

from aar.errors import AarError
from aar.eval_jobs import (
    JOB_KINDS,
    BaselinesJob,
    FinalJob,
    JobSpec,
    MethodJob,
    PredictionsJob,
    TransferJob,
    UnreadableSpec,
    spec_body,
)
from aar.store import JobRow
from aar.store.protocols import WorkerStore

__all__ = [
    "JOB_KINDS",
    "BaselinesJob",
    "FinalJob",
    "JobError",
    "JobSpec",
    "MethodJob",
    "PredictionsJob",
    "TransferJob",
    "enqueue",
    "read_spec",
]


class JobError(AarError):
    """A job cannot be done as specified (the error is recorded on the job)."""


async def enqueue(
    store: WorkerStore, spec: JobSpec, *, submission_id: int | None = None, status: str = "queued"
) -> int:
    """Add a job for ``spec``; its id."""
    return await store.enqueue_job(spec.kind, spec_body(spec), submission_id=submission_id, status=status)


def read_spec(job: JobRow) -> JobSpec:
    """The job's spec as its model; raises :class:`JobError` with one line when it is malformed."""
    if isinstance(job.spec, UnreadableSpec):
        raise JobError(f"job {job.id} ({job.kind}): {job.spec.error}")
    return job.spec
