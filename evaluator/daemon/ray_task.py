"""What runs on a Ray node for one evaluator job: the same job code as a local worker, with no store.

The task never opens ``run.db``. It reads the run's config and evaluator files from a private copy it
unpacks from the bundle the daemon put in Ray's object store (``evaluator.daemon.ray_bundle``), or, with
``ray.run_folder = "shared"``, from the run folder itself (on storage every node mounts at the same path).
It runs the job with every integrity check (:func:`evaluator.daemon.execution.run_job`), streams its
progress to the daemon's :class:`ProgressBoard` actor, and returns a :class:`TaskOutcome` (with what the
job wrote in its copy): the daemon, the store's one writer, records it. On a shared run folder a task process
keeps the run's loaded task between jobs, as a local worker does; a private copy lives for one job only, so
no node keeps the run's labels after its jobs: a copy a killed task left (a timeout, a shutdown) is removed by
the node's next task, and by the sweep the daemon sends to every node when it stops (:func:`sweep_copies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aar.eval_jobs import JobStats
from aar.removal import remove_path
from aar.runtime import RunPaths
from aar.store import JobRow
from evaluator.daemon.ray_bundle import EVALUATOR, BundleError, Snapshot, digest_of, snapshot, unpack, written_since
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
"""The run's task and data per (shared run folder, device, threads), loaded once per task process."""
_LOOP: asyncio.AbstractEventLoop | None = None
"""The task process's event loop, kept between jobs with its one training thread (torch's thread pool is built
once, as in a local worker)."""
COPY_PREFIX = "job-"
"""A job's private copy of the run folder: ``<copies>/job-<job id>-<pid>-<process start>-<random>``."""
COPIES_ENV = "AAR_RAY_COPIES"
"""Where a node keeps its jobs' copies, if not ``~/.cache/aar/ray-jobs``: a private folder (0700) that no
sandbox binds (not under ``/tmp`` or ``/dev``, whatever ``TMPDIR`` says)."""


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        _LOOP.set_default_executor(ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-job"))
    return _LOOP


def _load(paths: RunPaths, device: str, threads: int) -> Evaluation:
    from aar.config import load_config
    from evaluator.compute.training import resolve_device
    from evaluator.daemon.jobs import Evaluation

    # ``auto`` where Ray gave a GPU: torch checks it is there (a node may declare GPUs it has not).
    torch_device = resolve_device("auto" if device.startswith("cuda") else "cpu")
    return Evaluation(paths, load_config(paths.config), torch_device, pool_device=device, threads=threads)


def _shared_evaluation(paths: RunPaths, device: str, threads: int) -> Evaluation:
    key = (str(paths.root), device, threads)
    if key not in _EVALUATIONS:
        _EVALUATIONS[key] = _load(paths, device, threads)
    return _EVALUATIONS[key]


def copies_root() -> Path:
    """This node's folder of job copies (made 0700, and refused unless it is this user's and private)."""
    root = Path(os.environ.get(COPIES_ENV) or Path.home() / ".cache" / "aar" / "ray-jobs")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise NodeSetupError(f"{root} is not a private folder of this user (0700): the job's copy cannot go there")
    return root


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), or ``""`` when there is none: with the pid, it
    names one process (a pid is reused, a pid with its start time is not)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat_line.rsplit(")", 1)[-1].split()[19]


def sweep_copies(root: Path | None = None) -> int:
    """Remove the copies whose task is gone (a killed task never reaches its ``finally``, and its copy holds the
    run's feedback labels): those whose process, named by its pid and start time, no longer runs. How many."""
    root = copies_root() if root is None else root
    removed = 0
    for folder in root.glob(f"{COPY_PREFIX}*"):
        fields = folder.name.split("-")
        pid, started = (fields[2], fields[3]) if len(fields) == 5 else ("", "")
        if not (pid.isdigit() and started and _started(int(pid)) == started):
            with contextlib.suppress(OSError):
                remove_path(folder)
                removed += 1
    return removed


@contextlib.contextmanager
def private_copy(digest: str, bundle: bytes, job_id: int = 0) -> Iterator[RunPaths]:
    """The run folder of ``bundle`` on this node for one job: a private folder (0700, under
    :func:`copies_root`) laid out as the run folder is, with an empty ``workspaces/`` for the verification
    sandboxes; removed when the job ends."""
    if digest_of(bundle) != digest:
        raise NodeSetupError(f"the job bundle reached the node altered (its digest is not {digest[:12]})")
    root = copies_root()
    sweep_copies(root)
    pid = os.getpid()
    folder = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{job_id}-{pid}-{_started(pid)}-", dir=root))
    try:
        try:
            unpack(bundle, folder)
        except BundleError as exc:
            raise NodeSetupError(str(exc)) from None
        paths = RunPaths(folder)
        paths.workspaces.mkdir()
        yield paths
    finally:
        with contextlib.suppress(OSError):
            remove_path(folder)


class NodeSetupError(RuntimeError):
    """A node that cannot run the job (the run folder is not mounted there, its bundle does not unpack): the
    node's fault, not the submission's (a ``JobError``), so the job is requeued as for a lost node, without
    spending a retry, and runs on whichever node has room."""


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
        where_files: contextlib.AbstractContextManager[RunPaths] = contextlib.nullcontext(paths)
    else:
        where_files = private_copy(folder.digest, bundle, job.id)
    METER.reset()
    start = time.perf_counter()
    with where_files as paths:
        before: Snapshot = {} if folder.shared else snapshot(paths.root / EVALUATOR)

        async def run() -> list[Scored]:
            load = _shared_evaluation if folder.shared else _load
            ev = await asyncio.to_thread(load, paths, device, threads)
            return await run_job(ev, job, _Reporter(board, job.id))

        results = _loop().run_until_complete(run())
        written = b"" if folder.shared else written_since(paths.root, before)
    stats = METER.snapshot()
    return TaskOutcome(
        results=results,
        stats=stats.summary() if stats.examples else JobStats(),
        job_s=time.perf_counter() - start,
        detail=summary(results),
        device=where,
        written=written,
    )
