"""Keeps one evaluator worker process alive on one device, and never lets a job be lost.

The worker is spawned (never forked: the daemon's event loop and sockets stay
out of it, and torch loads only in the child). When it dies, the jobs it
held go back to the queue, or fail with the reason when that was their last
attempt, and a new worker starts after a short backoff. A job that runs past
``evaluator.job_timeout_s`` gets its worker killed and fails at once: the timeout
bounds the whole job (a method that hangs its verification must not hold a
device for two timeouts). A worker that stops beating (its heartbeat file, touched every second
from its event loop, unchanged for ``heartbeat_timeout_s``: frozen with SIGSTOP, or its loop hung)
is killed, its job requeued, and the run's log says so as an error (an inbox item).
A method's verification works in a scratch folder (``workspaces/.verify-<submission>-*``) that the
worker removes when it is done; when the worker dies first, the supervisor removes the folders of
the jobs it held, and at start every such folder a dead daemon's worker left.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from aar.clock import SYSTEM_CLOCK, Clock
from aar.events import LogLevel
from aar.removal import remove_path
from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from evaluator.daemon.execution import MAX_ATTEMPTS
from evaluator.daemon.worker import heartbeat_file, worker_main

HEARTBEAT_TIMEOUT_S = 60.0
"""A worker whose heartbeat has not moved for this long (on the supervisor's clock) is hung."""

Notify = Callable[[LogLevel, str], None]
"""``notify(level, message)``: how the supervisor tells the daemon's log what happened."""


def sweep_verify_folders(workspaces: Path, submission_ids: Iterable[int] | None = None) -> list[Path]:
    """Remove the verification scratch folders of ``submission_ids`` (every one when None); returns them.

    Only for verifications no live worker runs: a dead worker's jobs, or all of them before any starts.
    """
    patterns = [".verify-*"] if submission_ids is None else [f".verify-{sid}-*" for sid in set(submission_ids)]
    found = [p for pattern in patterns for p in workspaces.glob(pattern) if p.is_dir() and not p.is_symlink()]
    for folder in found:
        with contextlib.suppress(FileNotFoundError):
            remove_path(folder)
    return found


class WorkerSupervisor:
    def __init__(
        self,
        paths: RunPaths,
        store: RunStore,
        *,
        job_timeout_s: float,
        device: str = "",
        notify: Notify | None = None,
        poll_s: float = 0.2,
        worker_poll_s: float = 0.05,
        heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.paths = paths
        self.store = store
        self.job_timeout_s = job_timeout_s
        self.device = device
        """The pool device the worker holds; empty uses ``evaluator.device``."""
        self.notify = notify or (lambda level, message: None)
        self.poll_s = poll_s
        self.worker_poll_s = worker_poll_s
        self.process: multiprocessing.process.BaseProcess | None = None
        self.name = ""
        self.restarts = 0
        self._running_since: dict[int, float] = {}
        self._started = 0.0
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.clock = clock
        self._beat: float | None = None
        """The heartbeat file's last time seen, and when (on ``clock``) it was seen to change."""
        self._beat_seen = 0.0
        self.hung = 0
        """Workers killed for not beating."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def recover(self) -> None:
        """At start: whatever a previous daemon's worker left running goes back to the queue, and its scratch
        folders go. The daemon's death is not the job's doing: the attempt is not spent (as at a shutdown)."""
        await self._requeue(None, "the evaluator stopped while the job ran", spent=False)
        await asyncio.to_thread(sweep_verify_folders, self.paths.workspaces)

    def start(self) -> None:
        """Spawn the worker. Call it on the daemon's main thread: the worker is killed when the thread that
        spawned it ends (``worker.die_with_parent``)."""
        ctx = multiprocessing.get_context("spawn")
        self.name = f"worker-{self.device.replace(':', '') or 'eval'}-{uuid.uuid4().hex[:6]}"
        self.process = ctx.Process(
            target=worker_main,
            args=(str(self.paths.root), self.name, self.worker_poll_s, self.device, os.getpid()),
            name=self.name,
            daemon=True,
        )
        self.process.start()
        self._started = time.monotonic()
        self._running_since.clear()
        self._beat, self._beat_seen = None, self.clock.monotonic()
        self.notify(
            "info",
            f"evaluator worker {self.name} started on {self.device or 'evaluator.device'} (pid {self.process.pid})",
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Supervise until ``stop`` is set, then stop the worker and put its job back."""
        backoff = 1.0
        if self.process is None:
            self.start()
        try:
            while not stop.is_set():
                assert self.process is not None
                if not self.process.is_alive():
                    code = self.process.exitcode
                    await self._requeue(
                        self.name, f"the evaluator worker died (exit code {code}) while running the job"
                    )
                    self.notify(
                        "warning", f"evaluator worker {self.name} died (exit code {code}); restarting in {backoff:.0f}s"
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    if stop.is_set():
                        break
                    backoff = min(backoff * 2, 30.0)
                    self.restarts += 1
                    self.start()
                    continue
                if await self._check_timeouts() or await self._check_heartbeat():
                    continue
                if time.monotonic() - self._started > 60:
                    backoff = 1.0  # it has run a while: the next death is not a crash loop
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the worker; a job it was running goes back to the queue without spending an attempt."""
        proc = self.process
        if proc is None:
            return
        if proc.is_alive():
            proc.terminate()
            await asyncio.to_thread(proc.join, 5.0)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5.0)
        for job in await self._sweep(self.name):
            await self.store.update_job(
                job.id,
                status="queued",
                attempts=max(0, job.attempts - 1),
                detail="interrupted by shutdown; will run again",
            )
        self.process = None

    def kill(self) -> None:
        """Kill the worker outright (a hung job); the loop notices and restarts it."""
        if self.process is not None and self.process.pid and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)

    async def _check_timeouts(self) -> bool:
        now = time.monotonic()
        running = [j for j in await self.store.jobs(status="running") if j.worker == self.name]
        ids = {j.id for j in running}
        self._running_since = {k: v for k, v in self._running_since.items() if k in ids}
        for job in running:
            since = self._running_since.setdefault(job.id, now)
            if now - since > self.job_timeout_s:
                self.notify("warning", f"eval job {job.id} ran past {self.job_timeout_s:.0f}s; killing the worker")
                await self.store.update_job(job.id, error=f"timed out after {self.job_timeout_s:.0f}s")
                process = self.process
                self.kill()
                if process is not None:
                    await asyncio.to_thread(process.join, 5.0)
                return True
        return False

    async def _check_heartbeat(self) -> bool:
        """Kill a worker whose heartbeat stopped, and put its job back; True if it did."""
        try:
            beat: float | None = (await asyncio.to_thread(heartbeat_file(self.paths, self.name).stat)).st_mtime
        except FileNotFoundError:
            beat = None  # not beating yet: starting (torch loads) counts against the timeout too
        now = self.clock.monotonic()
        if beat != self._beat:
            self._beat, self._beat_seen = beat, now
            return False
        silent = now - self._beat_seen
        if silent <= self.heartbeat_timeout_s:
            return False
        process, name = self.process, self.name
        self.kill()
        if process is not None:
            await asyncio.to_thread(process.join, 5.0)
        why = f"the evaluator worker hung (no heartbeat for {silent:.0f}s) while running the job; it was killed"
        jobs = await self._requeue(name, why)
        held = f"; job(s) {', '.join(map(str, jobs))} back in the queue" if jobs else ""
        self.notify("error", f"evaluator worker {name} hung: no heartbeat for {silent:.0f}s; killed it{held}")
        self.hung += 1
        return True

    async def _sweep(self, worker: str | None) -> list[JobRow]:
        """The running jobs of ``worker`` (dead by now; every worker's when None), their scratch folders removed."""
        held = [j for j in await self.store.jobs(status="running") if worker is None or j.worker == worker]
        ids = [j.submission_id for j in held if j.submission_id is not None]
        await asyncio.to_thread(sweep_verify_folders, self.paths.workspaces, ids)
        return held

    async def _requeue(self, worker: str | None, why: str, *, spent: bool = True) -> list[int]:
        """Put the running jobs of ``worker`` (dead by now; every worker's when None) back in the queue, or fail
        them on their last attempt (when ``spent``: the worker died on them), and remove their verification
        folders."""
        await self._sweep(worker)
        ids = await self.store.requeue_running(worker=worker)
        for job_id in ids:
            job = await self.store.job(job_id)
            if job is None:
                continue
            timed_out = job.error.startswith("timed out")
            reason = job.error if timed_out else why
            if timed_out or (spent and job.attempts >= MAX_ATTEMPTS):
                await self.store.update_job(
                    job_id, status="failed", error=f"{reason} (attempt {job.attempts} of {MAX_ATTEMPTS})"
                )
            elif not spent:
                await self.store.update_job(
                    job_id, error=reason, attempts=max(0, job.attempts - 1), detail="requeued; will run again"
                )
            else:
                await self.store.update_job(job_id, error=reason, detail="requeued; will run again")
        return ids
