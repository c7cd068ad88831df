"""Which methods go to the transfer targets, and their jobs.

``aar transfer``, the leaderboard's key and ``transfer.auto`` all enqueue through :func:`plan_transfers`
and :func:`enqueue_transfers`. A transfer job (``evaluator.daemon.jobs.run_transfer_job``) re-runs a verified
method on one target's own task as a method job runs on the home task: the same queue, device pool, fresh
sandbox, canary and checks. Its score is the target's feedback split (``transfer`` results), never the
home task's ``final``, and the team never sees it. Pure Python: the daemon and the CLI import this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aar.config import RunConfig
from aar.errors import AarError
from aar.review import top_methods
from aar.store import JobRow, RunStore
from evaluator.daemon.job_specs import MethodJob, TransferJob, enqueue

LIVE = ("queued", "running", "done")
"""A transfer job in one of these states is not enqueued again."""


class TransferRefused(AarError):
    """Nothing can be transferred as asked (one line says why and what to do)."""


@dataclass(frozen=True)
class Planned:
    """One method on one target: the job that runs it, new or already there."""

    submission_id: int
    target: str
    job_id: int
    new: bool
    status: str
    """The job's status: ``queued`` for a new one."""

    def line(self) -> str:
        what = "queued as" if self.new else f"already {self.status}:"
        return f"submission #{self.submission_id} on {self.target}: {what} job {self.job_id}"


async def plan_transfers(
    store: RunStore, config: RunConfig, *, top: int | None = None, submission: int | None = None
) -> list[int]:
    """The submissions to transfer: ``submission`` alone, or the top ``top`` (the config's ``top_k``) methods."""
    if not config.transfer.targets:
        raise TransferRefused(
            "the run's config lists no transfer targets: add [[transfer.targets]] to its config.toml and resume it"
        )
    jobs = await store.jobs(limit=100_000)
    baselines = [j for j in jobs if j.kind == "baselines"]
    if not any(j.status == "done" for j in baselines):
        state = ", ".join(f"job {j.id} {j.status}" for j in baselines) or "not started"
        raise TransferRefused(f"the run's baselines are not finished ({state}): transfer once they are")
    if submission is not None:
        return [await _verified_method(store, jobs, submission)]
    ids = await top_methods(store, top if top is not None else config.transfer.top_k)
    if not ids:
        raise TransferRefused("no verified method to transfer yet: the leaderboard has no scored method")
    return ids


async def _verified_method(store: RunStore, jobs: Sequence[JobRow], submission: int) -> int:
    sub = await store.submission(submission)
    if sub is None:
        raise TransferRefused(f"no submission #{submission} in this run")
    if sub.kind == "predictions":
        raise TransferRefused(f"submission #{submission} is a prediction file: there is no method to transfer")
    if not any(j.submission_id == submission and j.kind == "method" and j.status == "done" for j in jobs):
        raise TransferRefused(f"submission #{submission} is not verified ({sub.status}): transfer it once it is scored")
    return submission


async def enqueue_transfers(
    store: RunStore, config: RunConfig, submission_ids: Sequence[int], *, retry_failed: bool = True
) -> list[Planned]:
    """A transfer job for each submission on each target, unless one is already queued, running or done
    (``retry_failed=False`` also leaves a failed one alone: what ``transfer.auto`` does)."""
    jobs = await store.jobs(limit=100_000)
    keep = LIVE if retry_failed else (*LIVE, "failed")
    existing: dict[tuple[int, str], JobRow] = {}
    for job in reversed(jobs):  # oldest first, so the newest job of a pair is the one kept
        if isinstance(job.spec, TransferJob) and job.status in keep and job.submission_id is not None:
            existing[(job.submission_id, job.spec.target)] = job
    methods = {j.submission_id: j.spec for j in jobs if isinstance(j.spec, MethodJob) and j.status == "done"}
    planned = []
    for sid in submission_ids:
        method = methods.get(sid)
        if method is None:
            raise TransferRefused(f"submission #{sid} has no verified method job to transfer")
        for target in config.transfer.targets:
            there = existing.get((sid, target.name))
            if there is not None:
                planned.append(Planned(sid, target.name, there.id, False, there.status))
                continue
            spec = TransferJob(submission_id=sid, target=target.name, filename=method.filename, source=method.source)
            planned.append(Planned(sid, target.name, await enqueue(store, spec, submission_id=sid), True, "queued"))
    return planned


async def transfer_command(store: RunStore, config: RunConfig, submission_id: int) -> str:
    """The supervisor's ``transfer`` command (the leaderboard's key): one method to every target; what was done
    in words, or :class:`TransferRefused` saying why not."""
    ids = await plan_transfers(store, config, submission=submission_id)
    return "; ".join(p.line() for p in await enqueue_transfers(store, config, ids))


async def auto_transfer(store: RunStore, config: RunConfig) -> list[Planned]:
    """``transfer.auto``: each method in the top ``top_k`` goes to every target once; nothing when there is
    nothing to transfer yet."""
    try:
        ids = await plan_transfers(store, config)
    except TransferRefused:
        return []
    return [p for p in await enqueue_transfers(store, config, ids, retry_failed=False) if p.new]
