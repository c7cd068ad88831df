"""The evaluator worker: a long-lived process, spawned by the service, that takes jobs from the store.

It is started with multiprocessing's ``spawn`` so torch (and CUDA) load here
and never in the daemon or the TUI. It writes only its own tables
(``eval_jobs`` progress and status, ``eval_results``); the service in the
daemon turns those changes into events. A job that raises is put back in
the queue once and then failed with the error; a job left ``running`` when
this process dies is requeued by the service, which restarts it.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from aar.config import load_config
from aar.devices import cpu_count, cpu_index, cuda_index
from aar.eval_jobs import JobStats
from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from aar.store.protocols import WorkerStore
from evaluator.daemon.execution import MAX_ATTEMPTS, record_done, record_failure, run_job
from evaluator.daemon.job_specs import JobError

if TYPE_CHECKING:
    from evaluator.daemon.jobs import Evaluation

BEAT_S = 1.0
"""How often a worker touches its heartbeat file (``RunPaths.heartbeats``)."""
log = logging.getLogger("aar.evaluator.daemon.worker")


class ProgressBox:
    """The latest progress of the job in hand: set from the training thread, written by the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[float, str] | None = None

    def report(self, fraction: float, detail: str) -> None:
        with self._lock:
            self._value = (max(0.0, min(1.0, fraction)), detail)

    def take(self) -> tuple[float, str] | None:
        with self._lock:
            value, self._value = self._value, None
            return value


class Worker:
    def __init__(
        self, paths: RunPaths, name: str, *, poll_s: float = 0.05, progress_s: float = 0.5, device: str = ""
    ) -> None:
        self.paths = paths
        self.name = name
        self.poll_s = poll_s
        self.progress_s = progress_s
        self.config = load_config(paths.config)
        self.device = device or self.config.evaluator.device
        self._evaluation: Evaluation | None = None

    def evaluation(self) -> Evaluation:
        if self._evaluation is None:
            from evaluator.compute.training import resolve_device
            from evaluator.daemon.jobs import Evaluation

            self._evaluation = Evaluation(
                self.paths, self.config, resolve_device(torch_device(self.device)), pool_device=self.device
            )
        return self._evaluation

    async def serve(self) -> None:
        """Take jobs until the parent process goes away."""
        parent = os.getppid()
        # One long-lived thread runs every job's training, so torch's thread pool is built once.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-job")
        )
        store: WorkerStore = await RunStore.open(self.paths.db)
        beating = asyncio.create_task(self._beat(), name="heartbeat")
        try:
            # What jobs record as their device: ``auto`` says which it became (torch loads here, once).
            recorded = self.device if self.device != "auto" else (await asyncio.to_thread(self.evaluation)).device
            while os.getppid() == parent:
                # A read first: idle polling never takes the write lock the daemon needs.
                job = (
                    await store.claim_job(self.name, device=recorded, max_attempts=MAX_ATTEMPTS)
                    if await store.jobs(status="queued", limit=1)
                    else None
                )
                if job is None:
                    await asyncio.sleep(self.poll_s)
                    continue
                await self.execute(store, job)
        finally:
            beating.cancel()
            await store.close()

    async def _beat(self) -> None:
        """Touch this worker's heartbeat file every ``BEAT_S`` from the event loop: a worker that is frozen
        (SIGSTOP) or whose loop hangs stops beating, and its supervisor kills it and requeues its job."""
        beat = heartbeat_file(self.paths, self.name)
        await asyncio.to_thread(beat.parent.mkdir, parents=True, exist_ok=True)
        while True:
            try:
                beat.touch()
            except OSError as exc:  # no beat: the supervisor restarts this worker, which says why here
                log.warning("heartbeat %s: %s", beat, exc)
            await asyncio.sleep(BEAT_S)

    async def execute(self, store: WorkerStore, job: JobRow) -> None:
        from evaluator.compute.hf.metrics import METER
        from evaluator.daemon.jobs import summary

        METER.reset()
        box = ProgressBox()
        writer = asyncio.create_task(self._write_progress(store, job.id, box))
        start = time.perf_counter()
        try:
            ev = await asyncio.to_thread(self.evaluation)  # the first builds it (torch loads): not on the loop
            results = await run_job(ev, job, box.report)
        except Exception as exc:  # a job's failure is recorded on the job; the worker goes on
            writer.cancel()
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "job %s (%s) failed on attempt %s: %s\n%s",
                job.id,
                job.kind,
                job.attempts,
                error,
                traceback.format_exc(),
            )
            await record_failure(store, job, error, final=isinstance(exc, JobError))
            return
        writer.cancel()
        stats = METER.snapshot()
        await record_done(
            store,
            job,
            results,
            job_s=time.perf_counter() - start,
            stats=stats.summary() if stats.examples else JobStats(),
            detail=summary(results),
        )

    async def _write_progress(self, store: WorkerStore, job_id: int, box: ProgressBox) -> None:
        parent = os.getppid()
        while True:
            await asyncio.sleep(self.progress_s)
            if os.getppid() != parent:
                os._exit(3)  # the daemon is gone: its successor requeues this job, so stop now
            value = box.take()
            if value is not None:
                await store.update_job(job_id, progress=round(value[0], 4), detail=value[1][:300])


def heartbeat_file(paths: RunPaths, name: str) -> Path:
    """The file worker ``name`` touches while it is alive and well."""
    return paths.beat(name)


def hold_device(device: str) -> None:
    """Make this process see only its pool device: one GPU (``cuda:N``) or one core (``cpu:N``)."""
    gpu, core = cuda_index(device), cpu_index(device)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    elif core is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[core % cpu_count()]})


def torch_device(device: str) -> str:
    """The torch device inside a worker that holds ``device``: its one GPU is ``cuda``."""
    if cuda_index(device) is not None:
        return "cuda"
    return "cpu" if cpu_index(device) is not None else device


PARENT_WATCH_S = 0.5
"""How often the watchdog thread looks at the worker's parent pid."""
_PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal this process gets when the thread that spawned it ends."""


def die_with_parent(parent: int) -> None:
    """Make sure this worker does not outlive ``parent`` (its daemon), whatever killed the daemon.

    On Linux the kernel sends SIGKILL the moment the daemon's thread that spawned the worker ends (the
    daemon starts workers from its event loop, its main thread): kill -9, or a SIGSTOP then kill -9, leaves
    no worker behind holding run.db and a device. The request only covers a parent still alive when it is
    made, so the parent pid is checked after it (the daemon may die while the worker starts). Elsewhere, and
    as a second line on Linux, a watchdog thread exits when the parent pid changes (the worker was handed to
    init or a subreaper), within ``PARENT_WATCH_S``, whatever the event loop awaits. The job the worker
    held stays ``running`` in the store and the next daemon requeues it.
    """
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        except (OSError, AttributeError) as exc:
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    if os.getppid() != parent:
        os._exit(3)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int, every_s: float = PARENT_WATCH_S) -> None:
    """Watchdog thread: exit once ``parent`` is no longer this process's parent."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(3)


def worker_main(run_dir: str, name: str, poll_s: float = 0.05, device: str = "", parent: int = 0) -> None:
    """Entry point of the spawned process, which holds ``device`` alone (before torch loads).

    ``parent`` is the daemon's pid as the daemon saw it: a daemon killed while this process was
    starting has already handed it to init, and ``os.getppid()`` alone would watch init forever.
    """
    parent = parent or os.getppid()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(message)s")
    die_with_parent(parent)
    hold_device(device)
    asyncio.run(Worker(RunPaths(Path(run_dir)), name, poll_s=poll_s, device=device).serve())
