"""What runs on a Ray node for one evaluator job: the same job code as a local worker, with no store.

The task never opens ``run.db``: it reads the run's config and evaluator files from the run folder (on
storage every node mounts at the same path; on one machine, the folder itself), runs the job with every
integrity check (:func:`evaluator.daemon.execution.run_job`), streams its progress to the daemon's
:class:`ProgressBoard` actor, and returns a :class:`TaskOutcome`: the daemon, the store's one writer,
records it. A task process keeps the run's loaded task between jobs, as a local worker does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aar.eval_jobs import JobStats
from aar.runtime import RunPaths
from aar.store import JobRow
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


_EVALUATIONS: dict[tuple[str, str], Evaluation] = {}
"""The run's task and data per (run folder, device), loaded once per task process."""
_LOOP: asyncio.AbstractEventLoop | None = None
"""The task process's event loop, kept between jobs with its one training thread (torch's thread pool is built
once, as in a local worker)."""


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        _LOOP.set_default_executor(ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-job"))
    return _LOOP


def _evaluation(paths: RunPaths, device: str) -> Evaluation:
    key = (str(paths.root), device)
    if key not in _EVALUATIONS:
        from aar.config import load_config
        from evaluator.compute.training import resolve_device
        from evaluator.daemon.jobs import Evaluation

        # ``auto`` where Ray gave a GPU: torch checks it is there (a node may declare GPUs it has not).
        torch_device = resolve_device("auto" if device.startswith("cuda") else "cpu")
        _EVALUATIONS[key] = Evaluation(paths, load_config(paths.config), torch_device, pool_device=device)
    return _EVALUATIONS[key]


class NodeSetupError(RuntimeError):
    """A node that cannot run the job (the run folder is not mounted there): the node's fault, not the
    submission's (a ``JobError``), so the job is tried again, on whichever node has room."""


def run_on_node(run_dir: str, job: JobRow, board: Any) -> TaskOutcome:
    """The Ray task's body (``ray.remote`` wraps it in the daemon): run ``job`` of the run at ``run_dir``."""
    import ray

    from evaluator.compute.hf.metrics import METER
    from evaluator.daemon.execution import run_job
    from evaluator.daemon.jobs import summary

    context = ray.get_runtime_context()
    node = context.get_node_id()[:8]
    gpus = context.get_accelerator_ids().get("GPU", [])
    device = f"cuda:{gpus[0]}" if gpus else "cpu"
    where = f"{device}@{node}"
    board.placed.remote(job.id, where)
    paths = RunPaths(Path(run_dir))
    if not paths.config.is_file():
        raise NodeSetupError(
            f"the run folder {run_dir} is not on node {node}: put runs_dir on storage every node mounts at that path"
        )
    METER.reset()
    start = time.perf_counter()

    async def run() -> list[Scored]:
        ev = await asyncio.to_thread(_evaluation, paths, device)
        return await run_job(ev, job, _Reporter(board, job.id))

    results = _loop().run_until_complete(run())
    stats = METER.snapshot()
    return TaskOutcome(
        results=results,
        stats=stats.summary() if stats.examples else JobStats(),
        job_s=time.perf_counter() - start,
        detail=summary(results),
        device=where,
    )
