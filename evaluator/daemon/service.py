"""The evaluator's half of the daemon: workspaces, the worker, submissions, and their events.

The daemon calls ``prepare_workspaces`` once, then runs ``serve`` beside the
team until ``ctx.stop`` is set. Nothing here imports torch: the bundle is
built by a child process (``python -m evaluator.compute.prepare``) and every piece
of training runs in the spawned worker. This module is the only evaluator
code that writes events and submission rows; the worker writes only jobs
and results, and the watcher below turns those into events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import TYPE_CHECKING, Literal

from aar.errors import AarError
from aar.events import EvalJobChanged, EvalScored, LogLevel, RunLog, SubmissionCreated, WorkspaceRepaired
from aar.runtime import RunContext
from aar.store import JobRow, ResultRow, RunStore
from evaluator.daemon.bundle import MANIFEST
from evaluator.daemon.job_specs import BaselinesJob, enqueue
from evaluator.daemon.outputs import behaves_like_a_fixed_list, earlier_method_outputs, method_outputs
from evaluator.daemon.pool import WorkerPool
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.submissions import earlier_predictions, judge, method_links, output_flags
from evaluator.daemon.supervisor import Notify
from evaluator.daemon.task_copy import install_bundle
from evaluator.daemon.transfer import auto_transfer

if TYPE_CHECKING:
    from evaluator.daemon.ray_pool import RayPool

POLL_S = 0.2


async def prepare_workspaces(ctx: RunContext) -> None:
    """Build the bundle (in a child process) and copy it to ``<workspace>/task/`` of every agent."""
    files = RunFiles(ctx.paths)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evaluator.compute.prepare",
        str(ctx.paths.root),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        tail = (err or out).decode(errors="replace").strip().splitlines()[-3:]
        raise AarError(f"preparing the evaluator's task failed: {' | '.join(tail)}")
    ctx.store.emit(None, RunLog(message=f"evaluator: {out.decode().strip()}"))
    names = [a.name for a in ctx.config.resolved_agents()] + [b.agent for b in await ctx.store.branches()]
    for name in names:
        # A resumed run keeps a current copy; one an agent broke (a link, a FIFO) is replaced, and said so.
        done = await asyncio.to_thread(install_bundle, files.bundle, ctx.paths.workspace(name))
        if done.found or done.error:
            ctx.store.emit(name, WorkspaceRepaired(found=done.found, error=done.error))


async def serve(ctx: RunContext) -> None:
    """Supervise the workers (one per device), enqueue baselines, judge submissions, report jobs, until ``ctx.stop``."""
    store = ctx.store
    files = RunFiles(ctx.paths)
    n_feedback = int(json.loads((files.bundle / MANIFEST).read_text())["sizes"]["feedback"])

    def notify(level: LogLevel, message: str) -> None:
        store.emit(None, RunLog(level=level, message=message))

    supervisor = _pool(ctx, notify)
    await supervisor.recover()
    await _enqueue_baselines(store, ctx.config.evaluator.seeds)
    unisolated = await asyncio.to_thread(_unisolated, ctx)
    watcher = JobWatcher(store, files, n_feedback)
    await watcher.prime()
    supervised = asyncio.create_task(supervisor.run(ctx.stop), name="evaluator-worker")
    transferred_at = -1  # ``transfer.auto`` looks again each time another method is scored
    try:
        while not ctx.stop.is_set():
            if supervised.done():
                supervised.result()  # it only returns early by raising
            await intake(ctx, n_feedback, unisolated=unisolated)
            await watcher.poll()
            if ctx.config.transfer.auto and watcher.methods_scored != transferred_at:
                transferred_at = watcher.methods_scored
                for planned in await auto_transfer(store, ctx.config):
                    notify("info", f"transfer.auto: {planned.line()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stop.wait(), POLL_S)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await supervised
        await watcher.poll()
        await store.flush()


def _pool(ctx: RunContext, notify: Notify) -> WorkerPool | RayPool:
    """Where jobs run: one local worker per device of the pool, or tasks on the Ray cluster of ``[ray]``."""
    config = ctx.config
    if config.evaluator.backend == "ray":
        from evaluator.daemon.ray_pool import RayPool

        return RayPool(
            ctx.paths,
            ctx.store,
            config.ray,
            job_timeout_s=config.evaluator.job_timeout_s,
            notify=notify,
            announce=lambda view: ctx.store.emit(None, view),
        )
    plan = config.device_plan()
    sandboxes = ", ".join(f"{name} {'+'.join(devices)}" for name, devices in plan.agents.items())
    notify(
        "info", f"devices: evaluator {', '.join(plan.evaluator)}" + (f"; sandboxes {sandboxes}" if sandboxes else "")
    )
    return WorkerPool(
        ctx.paths,
        ctx.store,
        plan.evaluator,
        job_timeout_s=config.evaluator.job_timeout_s,
        notify=notify,
        clock=ctx.clock,
    )


async def _enqueue_baselines(store: RunStore, seeds: int) -> None:
    for job in await store.jobs(limit=10_000):
        if job.kind == "baselines" and job.status in ("queued", "running", "done"):
            return
    await enqueue(store, BaselinesJob(seeds=list(range(seeds))))


def _unisolated(ctx: RunContext) -> bool:
    """True when the run's sandboxes have no isolation (allowed by ``sandbox.isolation = "none-allowed"``)."""
    from sandbox.factory import ISOLATED, effective_isolation

    return effective_isolation(ctx.config.sandbox) not in ISOLATED


async def intake(ctx: RunContext, n_feedback: int, *, unisolated: bool = False) -> None:
    """Judge every queued submission that has no job yet; record the verdict and enqueue it.

    A run without isolation marks every submission (so every score) ``unisolated``."""
    store = ctx.store
    subs = await store.submissions()
    queued = [s for s in subs if s.status == "queued"]
    if not queued:
        return
    with_jobs = {j.submission_id for j in await store.jobs(limit=100_000) if j.submission_id is not None}
    for sub in queued:
        if sub.id in with_jobs:
            await store.update_submission(sub.id, status="running")
            continue
        earlier = [s for s in subs if s.id < sub.id]
        outputs = await asyncio.to_thread(earlier_method_outputs, RunFiles(ctx.paths), earlier)
        verdict = judge(sub, earlier, ctx.config.evaluator, n_feedback, outputs)
        flags = list(dict.fromkeys(sub.flags + verdict.flags + (["unisolated"] if unisolated else [])))
        kind: Literal["predictions", "method"] = "predictions" if sub.kind == "predictions" else "method"
        if verdict.accepted and verdict.spec is not None:
            job_id = await enqueue(store, verdict.spec, submission_id=sub.id)
            await store.update_submission(sub.id, status="running", flags=flags)
            store.emit(sub.agent, SubmissionCreated(submission_id=sub.id, submission_kind=kind, flags=flags))
            store.emit(sub.agent, EvalJobChanged(job_id=job_id, job_kind=kind, status="queued"))
        else:
            await store.update_submission(sub.id, status="rejected", flags=flags, error=verdict.error)
            store.emit(sub.agent, SubmissionCreated(submission_id=sub.id, submission_kind=kind, flags=flags))
            store.emit(
                sub.agent,
                RunLog(level="warning", message=f"submission {sub.id} from {sub.agent} rejected: {verdict.error}"),
            )
        sub_row = await store.submission(sub.id)
        subs = [sub_row if s.id == sub.id and sub_row is not None else s for s in subs]


class JobWatcher:
    """Turns the worker's job and result rows into events, and finishes submissions."""

    def __init__(self, store: RunStore, files: RunFiles | None = None, n_feedback: int = 0) -> None:
        """``files``: where verified methods' outputs are, so they are judged like prediction files."""
        self.store = store
        self.files = files
        self.n_feedback = n_feedback
        self.seen: dict[int, tuple[str, float, str, int]] = {}
        self.methods_scored = 0
        """Method jobs seen done since this watcher started."""

    async def prime(self) -> None:
        """Remember finished jobs whose submissions are settled, so a resume does not re-announce them."""
        for job in await self.store.jobs(limit=100_000):
            if job.status in ("done", "failed"):
                sub = await self.store.submission(job.submission_id) if job.submission_id else None
                if sub is None or sub.status in ("scored", "failed"):
                    self.seen[job.id] = _state(job)

    async def poll(self) -> None:
        for job in reversed(await self.store.jobs(limit=500)):
            state = _state(job)
            if self.seen.get(job.id) == state:
                continue
            self.seen[job.id] = state
            agent = await self._agent(job)
            self.store.emit(
                agent,
                EvalJobChanged(
                    job_id=job.id,
                    job_kind=job.kind,
                    status=_status(job),
                    progress=job.progress,
                    detail=(job.error or job.detail)[:300],
                ),
            )
            if job.status == "done":
                await self._scored(job, agent)
            elif job.status == "failed" and job.submission_id is not None and job.kind != "transfer":
                await self.store.update_submission(
                    job.submission_id, status="failed", error=job.error or "the evaluation failed"
                )

    async def _scored(self, job: JobRow, agent: str | None) -> None:
        self.methods_scored += job.kind == "method"
        rows = [
            r
            for r in await self.store.results(submission_id=job.submission_id, include_transfer=True)
            if r.job_id == job.id
        ]
        for r in rows:
            note = str(r.metrics.get("note", ""))
            self.store.emit(
                agent,
                EvalScored(
                    job_id=job.id,
                    submission_id=r.submission_id,
                    pgr=r.pgr,
                    ci_low=r.ci_low,
                    ci_high=r.ci_high,
                    flags=r.flags,
                    detail=note or job.detail[:300],
                ),
            )
        if job.submission_id is not None and job.kind != "transfer":  # a transfer scores an already-scored method
            flags, links = await self._output_flags(job, rows) if job.kind == "method" else (None, None)
            await self.store.update_submission(job.submission_id, status="scored", flags=flags, links=links)

    async def _output_flags(self, job: JobRow, rows: list[ResultRow]) -> tuple[list[str] | None, list[str] | None]:
        """The submission's flags plus those its outputs earn against every earlier file and method output,
        and its links to its author's earlier prediction files that it reproduces."""
        sub = await self.store.submission(job.submission_id) if job.submission_id is not None else None
        if sub is None or self.files is None:
            return None, None
        earlier = [s for s in await self.store.submissions() if s.id < sub.id]
        files = self.files
        outputs = await asyncio.to_thread(method_outputs, files, sub.id)
        previous = earlier_predictions(earlier, self.n_feedback) + await asyncio.to_thread(
            earlier_method_outputs, files, earlier
        )
        fixed = behaves_like_a_fixed_list(outputs, [f for r in rows for f in r.flags])
        flags = output_flags(outputs, previous, sub, fixed_list=fixed)
        return list(dict.fromkeys(sub.flags + flags)), method_links(outputs, previous, sub)

    async def _agent(self, job: JobRow) -> str | None:
        """Whose job this is, so its events reach that agent; None for the evaluator's own jobs and for
        transfers, which the supervisor asked for and the team never sees (nor the targets' scores)."""
        if job.submission_id is None or job.kind == "transfer":
            return None
        sub = await self.store.submission(job.submission_id)
        return sub.agent if sub else None


def _state(job: JobRow) -> tuple[str, float, str, int]:
    return (job.status, round(job.progress, 2), job.error or job.detail, job.attempts)


def _status(job: JobRow) -> Literal["queued", "running", "done", "failed", "retrying"]:
    if job.status == "queued" and job.attempts > 0:
        return "retrying"
    return job.status
