"""What runs on a Ray node for one evaluator job: the same job code as a local worker, with no store.

The task never opens ``run.db``. It reads the run's config and evaluator files from a private copy it
unpacks from the bundle the daemon put in Ray's object store (``evaluator.daemon.ray_bundle``), or, with
``ray.run_folder = "shared"``, from the run folder itself (on storage every node mounts at the same path).
It runs the job with every integrity check (:func:`evaluator.daemon.execution.run_job`), streams its
progress to the daemon's :class:`ProgressBoard` actor, and returns a :class:`TaskOutcome` (with what the
job wrote in its copy): the daemon, the store's one writer, records it. A task process keeps the run's
loaded task, and its unpacked copy, between jobs, as a local worker does.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aar.eval_jobs import JobStats
from aar.removal import remove_path
from aar.runtime import RunPaths
from aar.store import JobRow
from evaluator.daemon.ray_bundle import EVALUATOR, Snapshot, digest_of, snapshot, unpack, written_since
from evaluator.daemon.scoring import Scored

if TYPE_CHECKING:
    from evaluator.daemon.jobs import Evaluation

PROGRESS_EVERY_S = 0.5
"""At most one progress message per job this often."""


class TaskOutcome(BaseModel):
    """What a finished task hands back to the daemon."""

    results: list[Scored]
    stats: JobStats
    job_s: float
    """Seconds the job itself took on the node."""
    detail: str
    device: str
    """Where it ran: ``cuda:0@3f2a9c1e`` (the GPU Ray gave it, on that node) or ``cpu@3f2a9c1e``."""
    written: bytes = b""
    """What the job wrote under ``evaluator/`` of its private copy (a method's verified outputs, the cache it
    filled), as a bundle for the daemon to keep; empty on a shared run folder, where it wrote in place."""


class RunFolder(BaseModel):
    """Where a task finds the run's files: the bundle of digest ``digest``, handed to it beside this, or the
    shared run folder ``shared``."""

    digest: str = ""
    shared: str = ""
    keep: bool = True
    """Keep the unpacked copy for this process's next job (False where Ray runs one task per process)."""


class ProgressBoard:
    """A small actor beside the daemon: tasks post where they run and how far they are; the daemon takes both."""

    def __init__(self) -> None:
        self._placed: dict[int, str] = {}
        self._progress: dict[int, tuple[float, str]] = {}

    def placed(self, job_id: int, device: str) -> None:
        self._placed[job_id] = device

    def report(self, job_id: int, fraction: float, detail: str) -> None:
        self._progress[job_id] = (fraction, detail)

    def take(self) -> tuple[dict[int, str], dict[int, tuple[float, str]]]:
        out = (self._placed, self._progress)
        self._placed, self._progress = {}, {}
        return out


class _Reporter:
    """``report(fraction, detail)`` for the job code (called from its training thread), sent at most every
    ``PROGRESS_EVERY_S``."""

    def __init__(self, board: Any, job_id: int) -> None:
        self.board, self.job_id = board, job_id
        self._lock = threading.Lock()
        self._sent = 0.0

    def __call__(self, fraction: float, detail: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._sent < PROGRESS_EVERY_S:
                return
            self._sent = now
        self.board.report.remote(self.job_id, max(0.0, min(1.0, fraction)), detail[:300])


_EVALUATIONS: dict[tuple[str, str, int], Evaluation] = {}
"""The run's task and data per (run folder, device, threads), loaded once per task process."""
_UNPACKED: dict[str, Path] = {}
"""This process's unpacked copy of a bundle by its digest (one at a time: a newer bundle replaces it)."""
_LOOP: asyncio.AbstractEventLoop | None = None
"""The task process's event loop, kept between jobs with its one training thread (torch's thread pool is built
once, as in a local worker)."""


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        _LOOP.set_default_executor(ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-job"))
    return _LOOP


def _evaluation(paths: RunPaths, device: str, threads: int) -> Evaluation:
    key = (str(paths.root), device, threads)
    if key not in _EVALUATIONS:
        from aar.config import load_config
        from evaluator.compute.training import resolve_device
        from evaluator.daemon.jobs import Evaluation

        # ``auto`` where Ray gave a GPU: torch checks it is there (a node may declare GPUs it has not).
        torch_device = resolve_device("auto" if device.startswith("cuda") else "cpu")
        _EVALUATIONS[key] = Evaluation(
            paths, load_config(paths.config), torch_device, pool_device=device, threads=threads
        )
    return _EVALUATIONS[key]


def _forget(digest: str) -> None:
    """Remove the unpacked copy of ``digest`` and what this process loaded from it."""
    folder = _UNPACKED.pop(digest, None)
    if folder is None:
        return
    for key in [k for k in _EVALUATIONS if k[0] == str(folder)]:
        del _EVALUATIONS[key]
    with contextlib.suppress(OSError):
        remove_path(folder)


def _forget_all() -> None:
    for digest in list(_UNPACKED):
        _forget(digest)


atexit.register(_forget_all)


def _unpacked(digest: str, bundle: bytes) -> Path:
    """The run folder of ``bundle`` on this node: a private folder (0700) laid out as the run folder is, with
    an empty ``workspaces/`` for the verification sandboxes; unpacked once per digest in this process."""
    if digest in _UNPACKED:
        return _UNPACKED[digest]
    _forget_all()
    if digest_of(bundle) != digest:
        raise NodeSetupError(f"the job bundle reached the node altered (its digest is not {digest[:12]})")
    folder = Path(tempfile.mkdtemp(prefix="aar-job-"))
    try:
        unpack(bundle, folder)
        RunPaths(folder).workspaces.mkdir()
    except BaseException:
        remove_path(folder)
        raise
    _UNPACKED[digest] = folder
    return folder


class NodeSetupError(RuntimeError):
    """A node that cannot run the job (the run folder is not mounted there): the node's fault, not the
    submission's (a ``JobError``), so the job is tried again, on whichever node has room."""


def run_on_node(folder: RunFolder, job: JobRow, board: Any, bundle: bytes = b"") -> TaskOutcome:
    """The Ray task's body (``ray.remote`` wraps it in the daemon): run ``job`` of the run in ``folder``
    (``bundle``, resolved by Ray from the object ref the daemon passed, holds its files unless it is shared)."""
    import ray

    from evaluator.compute.hf.metrics import METER
    from evaluator.daemon.execution import run_job
    from evaluator.daemon.jobs import summary

    context: Any = ray.get_runtime_context()
    node = context.get_node_id()[:8]
    gpus = context.get_accelerator_ids().get("GPU", [])
    device = f"cuda:{gpus[0]}" if gpus else "cpu"
    where = f"{device}@{node}"
    board.placed.remote(job.id, where)
    # A method's sandbox trains on as many threads as the CPUs the job asked for (Ray's num_cpus is accounting
    # only, and Ray sets OMP_NUM_THREADS to it for this process alone): a node of N CPUs runs N single-CPU jobs
    # side by side, not N jobs each on every core.
    threads = math.ceil(context.get_assigned_resources().get("CPU", 0))
    if folder.shared:
        paths = RunPaths(Path(folder.shared))
        if not paths.config.is_file():
            raise NodeSetupError(
                f"the run folder {folder.shared} is not on node {node}: put runs_dir on storage every node mounts "
                'at that path, or set ray.run_folder = "object_store"'
            )
    else:
        paths = RunPaths(_unpacked(folder.digest, bundle))
    METER.reset()
    start = time.perf_counter()
    before: Snapshot = {} if folder.shared else snapshot(paths.root / EVALUATOR)

    async def run() -> list[Scored]:
        ev = await asyncio.to_thread(_evaluation, paths, device, threads)
        return await run_job(ev, job, _Reporter(board, job.id))

    try:
        results = _loop().run_until_complete(run())
        written = b"" if folder.shared else written_since(paths.root, before)
    except BaseException:
        _forget(folder.digest)  # what a failed job left half-written is not the next job's start
        raise
    if not folder.keep:
        _forget(folder.digest)
    stats = METER.snapshot()
    return TaskOutcome(
        results=results,
        stats=stats.summary() if stats.examples else JobStats(),
        job_s=time.perf_counter() - start,
        detail=summary(results),
        device=where,
        written=written,
    )
