"""What an evaluator job asks for: the spec the daemon writes into ``eval_jobs`` and the worker reads.

The store keeps a job's kind in its own column and the rest of the spec as JSON;
:func:`enqueue` writes a model in that shape and :func:`read_spec` reads it back, so
a malformed spec fails the job with one line instead of a ``KeyError`` in the worker.
No torch or numpy here: the daemon imports this module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aar.errors import AarError
from aar.store import JobRow, RunStore


class JobError(AarError):
    """A job cannot be done as specified (the error is recorded on the job)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselinesJob(_Spec):
    """Weak, ceiling and vanilla transfer over seeds (cached by task and seed)."""

    kind: Literal["baselines"] = "baselines"
    seeds: list[int] | None = None
    """Seeds to train; None means the run's (``evaluator.seeds``)."""
    cache: bool = True
    """False retrains everything (a benchmark, or a suspicion about the cache)."""


class PredictionsJob(_Spec):
    """A prediction file, scored on the feedback split against every seed's baselines."""

    kind: Literal["predictions"] = "predictions"
    predictions: list[Annotated[int, Field(ge=0, le=1)]]
    """One 0/1 per feedback input, in order."""
    submission_id: int | None = None
    """The submission this scores."""


class MethodJob(_Spec):
    """A submitted method, re-run over seeds in a fresh sandbox and scored outside it."""

    kind: Literal["method"] = "method"
    submission_id: int
    """The submission this verifies."""
    filename: str = "method.py"
    """The file name the agent gave (an unsafe one becomes ``method.py`` in the sandbox)."""
    source: str
    """Python source defining ``run(ctx)``."""
    seeds: list[int] | None = None
    """Seeds to run it over; None means the run's."""


class FinalJob(_Spec):
    """The record of ``aar report --final`` scoring the private split (done outside the worker)."""

    kind: Literal["final"] = "final"
    seeds: list[int]
    """Seeds the final scores are over."""


JobSpec = Annotated[BaselinesJob | PredictionsJob | MethodJob | FinalJob, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)
JOB_KINDS = ("baselines", "predictions", "method", "final")


async def enqueue(store: RunStore, spec: JobSpec, *, submission_id: int | None = None, status: str = "queued") -> int:
    """Add a job for ``spec``; its id."""
    body = spec.model_dump(mode="json", exclude={"kind"})
    return await store.enqueue_job(spec.kind, body, submission_id=submission_id, status=status)


def read_spec(job: JobRow) -> JobSpec:
    """The job's spec as its model; raises :class:`JobError` with one line when it is malformed."""
    if job.kind not in JOB_KINDS:
        raise JobError(f"unknown job kind {job.kind!r} (known: {', '.join(JOB_KINDS)})")
    try:
        return _ADAPTER.validate_python({**job.spec, "kind": job.kind})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "spec"
        raise JobError(f"job {job.id} ({job.kind}): {where}: {first['msg']}") from None
