"""Evaluator jobs as Ray tasks: the daemon's side of ``evaluator.backend = "ray"``.

The fair queue stays here: the pool claims the store's next job only while the cluster's live nodes have
room for one more (``ray_cluster.capacity``), and submits it as a task asking for ``[ray]``'s resources.
The task (``ray_task.run_on_node``) never opens ``run.db``: it gets what it reads of the run folder as a
bundle in Ray's object store (packed and put once per content, ``ray_bundle.BundleShelf``) unless the run
folder is shared; its results, and what it wrote in its copy, come back as the task's value and are
recorded here, by the daemon, the store's one writer. Retries are the daemon's (Ray's ``max_retries`` is 0),
so a job tried again goes back to the fair queue: a task that raises is requeued until it has been tried
``ray.max_retries`` more times, then failed with its error (a submission's own ``JobError`` fails at once);
a task whose node or worker was lost, or whose node could not set it up (``NodeSetupError``), is requeued
without spending a retry (until it has lost ``MAX_NODES_LOST`` nodes), and the next free node takes it;
results already recorded stay as they are. A transfer target's secret is drawn here, in the run folder,
before its first job is packed: every job to that target, on whichever node, builds its data from the same
draw. What a job returns is kept by ``ray_bundle.keep_returned`` (its verified outputs, caches, a target's
first bundle), never over the secret or a bundle and labels already there; one that cannot be kept, or a
bundle that cannot be packed, fails that job's attempt in one line, never the service.
Where each job runs, and the nodes with their GPUs, are written as the job's device (``cuda:0@3f2a9c1e``)
and as ``eval.cluster`` events for the jobs screen and ``aar ls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aar.config import RayConfig, RunConfig, load_config
from aar.events import ClusterNode, EvalClusterChanged
from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from evaluator.daemon.execution import record_done, record_failure
from evaluator.daemon.job_specs import JobError
from evaluator.daemon.ray_bundle import EVALUATOR, BundleError, BundleShelf, keep_returned
from evaluator.daemon.ray_cluster import capacity, connect, import_ray, nodes_of, prepare, request
from evaluator.daemon.ray_task import NodeSetupError, ProgressBoard, RunFolder, TaskOutcome, run_on_node, sweep_copies
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.supervisor import Notify, sweep_verify_folders

WORKER = "ray"
"""The ``worker`` column of a job the cluster holds."""
MAX_NODES_LOST = 3
"""Nodes a job may lose under it before it fails: a job that takes its node down every time (a raylet killed
for memory, say) must not go round the cluster for ever. Counted by this daemon; a restart starts again."""

SWEEP_S = 10.0
"""How long the daemon waits, at shutdown, for the nodes to sweep the copies its cancelled tasks left."""

Announce = Callable[[EvalClusterChanged], None]


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


@dataclass
class Flight:
    """A job submitted to the cluster."""

    job: JobRow
    since: float
    done: asyncio.Future[Any]
    """The task's value (a ``TaskOutcome``) or its error, set the moment it ends."""
    device: str = ""
    timed_out: bool = False
    """Cancelled for running past the job timeout: whatever error its ref then gives (a forced cancel reads
    as ``WorkerCrashedError``), the job timed out; it is not a lost node to retry."""


class RayPool:
    def __init__(
        self,
        paths: RunPaths,
        store: RunStore,
        config: RayConfig,
        *,
        job_timeout_s: float,
        notify: Notify | None = None,
        announce: Announce | None = None,
        poll_s: float = 0.2,
        nodes_every_s: float = 1.0,
    ) -> None:
        self.paths = paths
        self.store = store
        self.config = config
        self.job_timeout_s = job_timeout_s
        self.notify = notify or (lambda level, message: None)
        self.announce = announce or (lambda view: None)
        self.poll_s = poll_s
        self.nodes_every_s = nodes_every_s
        self.address = ""
        self.flights: dict[Any, Flight] = {}
        """In-flight tasks by their ObjectRef."""
        self.room = 0
        self._nodes: list[ClusterNode] = []
        self._nodes_at = -1e9
        self._shown: EvalClusterChanged | None = None
        self._ray: Any = None
        self._remote: Any = None
        self._single_use = False
        self._board: Any = None
        self._shelf: BundleShelf | None = None
        self._run_config: RunConfig | None = None
        self.lost: dict[int, int] = {}
        """Nodes each job lost under it."""

    async def recover(self) -> None:
        """At start: what a previous daemon left running goes back to the queue without spending an attempt."""
        for job_id in await self.store.requeue_running():
            job = await self.store.job(job_id)
            if job is not None:
                await self.store.update_job(
                    job_id,
                    attempts=max(0, job.attempts - 1),
                    error="the evaluator stopped while the job ran",
                    detail="requeued; will run again",
                )
        await asyncio.to_thread(sweep_verify_folders, self.paths.workspaces)

    async def run(self, stop: asyncio.Event) -> None:
        """Feed the cluster from the fair queue and record what comes back, until ``stop`` is set."""
        prepare(self.config)
        ray = self._ray = import_ray()
        owned = not ray.is_initialized()
        self.address = await asyncio.to_thread(connect, self.config)
        self._start()
        self.notify("info", f"evaluator jobs run on the Ray cluster at {self.address}")
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                await self._look_at_nodes()
                await self._submit()
                await self._collect()
                await self._progress()
                await self._check_timeouts()
                # Wake when a task ends (recorded at once, the next job submitted), or after ``poll_s`` for the queue.
                await asyncio.wait(
                    [stopped, *(f.done for f in self.flights.values())],
                    timeout=self.poll_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            stopped.cancel()
            await self._shutdown()
            if owned:
                await asyncio.to_thread(ray.shutdown)

    def _start(self) -> None:
        ray = self._ray
        asked = request(self.config)
        # A GPU task's process is not reused (Ray's default only when num_gpus is given to ray.remote itself):
        # a process that started CUDA stays on its first GPU whatever CUDA_VISIBLE_DEVICES a later task gets.
        self._single_use = bool(asked.get("GPU", 0))
        self._remote = ray.remote(max_calls=1 if self._single_use else 0)(run_on_node).options(
            max_retries=0,  # the daemon requeues: its queue decides what runs next
            num_cpus=asked.get("CPU", 0),
            num_gpus=asked.get("GPU", 0),
            memory=asked.get("memory"),
            resources=self.config.resources or None,
        )
        self._board = self._new_board()
        if self.config.run_folder == "object_store":
            self._shelf = BundleShelf(self.paths.root, ray.put)

    @property
    def max_attempts(self) -> int:
        return self.config.max_retries + 1

    def _folder(self, job: JobRow) -> tuple[RunFolder, Any]:
        """Where ``job``'s task finds the run's files, and the bundle's object ref to hand it (blocking). A
        transfer target's secret is drawn first, here: jobs to one target on several nodes share one draw."""
        target = getattr(job.spec, "target", "") if job.kind == "transfer" else ""
        if target:
            if self._run_config is None:
                self._run_config = load_config(self.paths.config)
            known = self._run_config.transfer.target(target)
            if known is not None:  # an unknown one fails on the node, in the job's own words
                RunFiles(self.paths, known).data_seed(create=True)
        if self._shelf is None:
            return RunFolder(shared=str(self.paths.root)), b""
        digest, ref = self._shelf.current(target)
        return RunFolder(digest=digest), ref

    def _new_board(self) -> Any:
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        return (
            ray.remote(ProgressBoard)
            .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=True))
            .remote()
        )

    async def _look_at_nodes(self) -> None:
        now = time.monotonic()
        if now - self._nodes_at < self.nodes_every_s:
            return
        self._nodes_at = now
        try:
            raw = await asyncio.to_thread(self._ray.nodes)
        except Exception as exc:  # the head away for a while: keep the last view, look again next time
            self.notify("warning", f"the Ray cluster did not answer ({type(exc).__name__}); looking again")
            return
        self.room = capacity(raw, request(self.config))
        self._nodes = nodes_of(raw)
        self._show()

    def _show(self) -> None:
        """Announce the cluster when its nodes, or which job runs where, changed."""
        gpus_each = self.config.num_gpus
        placed: dict[str, list[int]] = {}
        for flight in self.flights.values():
            if "@" in flight.device:
                placed.setdefault(flight.device.rsplit("@", 1)[1], []).append(flight.job.id)
        nodes = [
            n.model_copy(
                update={"jobs": sorted(placed.get(n.node, [])), "gpus_busy": gpus_each * len(placed.get(n.node, []))}
            )
            if n.alive
            else n
            for n in self._nodes
        ]
        view = EvalClusterChanged(address=self.address, nodes=nodes, capacity=self.room)
        if view != self._shown:
            self._shown = view
            self.announce(view)

    async def _submit(self) -> None:
        while len(self.flights) < self.room:
            job = await self.store.claim_job(WORKER, device="", max_attempts=self.max_attempts)
            if job is None:
                return
            try:  # the run folder walked, packed and put only for a job claimed
                folder, bundle = await asyncio.to_thread(self._folder, job)
            except Exception as exc:  # a file gone, a put refused: this job's attempt fails, the service goes on
                await self._not_sent(job, f"its run folder could not be sent: {one_line(exc)}")
                continue
            ref = self._remote.remote(folder, job, self._board, bundle)
            self.flights[ref] = Flight(job, time.monotonic(), asyncio.wrap_future(ref.future()))

    async def _collect(self) -> None:
        ready = [ref for ref, flight in self.flights.items() if flight.done.done()]
        for ref in ready:
            flight = self.flights.pop(ref)
            try:
                outcome: TaskOutcome = flight.done.result()
            except Exception as exc:  # the task's failure, or its node's: recorded on the job, never raised here
                await self._failed(flight, exc)
                continue
            await self.store.update_job(flight.job.id, device=outcome.device)
            if outcome.written:  # before the job reads done: `aar report --final` finds its outputs then
                try:
                    _, refused = await asyncio.to_thread(keep_returned, outcome.written, self.paths.root / EVALUATOR)
                except BundleError as exc:
                    await self._not_sent(flight.job, one_line(exc))
                    continue
                if refused:
                    self.notify(
                        "info", f"eval job {flight.job.id}: {len(refused)} returned files not kept ({refused[0]}, ...)"
                    )
            self.lost.pop(flight.job.id, None)
            await record_done(
                self.store, flight.job, outcome.results, job_s=outcome.job_s, stats=outcome.stats, detail=outcome.detail
            )
        if ready:
            self._show()

    async def _not_sent(self, job: JobRow, error: str) -> None:
        """The daemon's side of an attempt failed (its bundle, what it returned): requeued, or failed once its
        attempts are spent, never left running without a task."""
        await record_failure(self.store, job, error, final=False, max_attempts=self.max_attempts)
        self.notify("warning", f"eval job {job.id}: {error}")

    async def _failed(self, flight: Flight, exc: BaseException) -> None:
        exceptions = self._ray.exceptions
        job = flight.job
        if flight.timed_out or isinstance(exc, exceptions.TaskCancelledError):
            await self.store.update_job(
                job.id,
                status="failed",
                error=f"timed out after {self.job_timeout_s:.0f}s",
                detail="killed; not retried",
            )
            return
        cause = getattr(exc, "cause", None) or exc
        if isinstance(exc, exceptions.RayTaskError) and not isinstance(cause, (NodeSetupError, BundleError)):
            error = f"{type(cause).__name__}: {cause}"
            final = isinstance(cause, JobError)
            await record_failure(self.store, job, error, final=final, max_attempts=self.max_attempts)
            if not final:
                self.notify("warning", f"eval job {job.id} attempt {job.attempts} raised {type(cause).__name__}")
            return
        # The node or the worker process went away under the job, or the node could not set it up: requeued
        # without spending a retry.
        where = flight.device or "its node"
        if isinstance(cause, (NodeSetupError, BundleError)):
            why = f"{where} could not run it ({type(cause).__name__}: {one_line(cause)})"
        else:
            why = f"lost with {where} ({type(exc).__name__})"
        siblings = {f.job.submission_id for f in self.flights.values()}  # its transfers, say, running elsewhere
        if job.submission_id is not None and job.submission_id not in siblings:
            await asyncio.to_thread(sweep_verify_folders, self.paths.workspaces, [job.submission_id])
        lost = self.lost[job.id] = self.lost.get(job.id, 0) + 1
        if lost < MAX_NODES_LOST:
            await self.store.update_job(
                job.id, status="queued", attempts=max(0, job.attempts - 1), error=why, detail="node lost; requeued"
            )
        else:
            await self.store.update_job(job.id, status="failed", error=why, detail=f"failed: lost {lost} nodes")
        self.notify("warning", f"eval job {job.id} {why}; " + ("requeued" if lost < MAX_NODES_LOST else "failed"))

    async def _progress(self) -> None:
        if not self.flights:
            return
        try:
            placed, progress = await asyncio.to_thread(self._ray.get, self._board.take.remote(), timeout=10)
        except Exception as exc:  # the board's node went away: tasks in flight keep their old board
            self.notify("warning", f"the Ray progress board was lost ({type(exc).__name__}); starting another")
            self._board = self._new_board()
            return
        by_id = {f.job.id: f for f in self.flights.values()}
        for job_id, device in placed.items():
            if job_id in by_id:
                by_id[job_id].device = device
                await self.store.update_job(job_id, device=device)
        for job_id, (fraction, detail) in progress.items():
            if job_id in by_id:
                await self.store.update_job(job_id, progress=round(fraction, 4), detail=detail)
        if placed:
            self._show()

    async def _check_timeouts(self) -> None:
        now = time.monotonic()
        for ref, flight in list(self.flights.items()):
            if now - flight.since > self.job_timeout_s:
                self.notify(
                    "warning", f"eval job {flight.job.id} ran past {self.job_timeout_s:.0f}s; cancelling its task"
                )
                flight.timed_out, flight.since = True, float("inf")  # cancelled once; its ref errors and is collected
                try:
                    await asyncio.to_thread(self._ray.cancel, ref, force=True)
                except Exception as exc:  # the cluster away: the task is cut off with it, and its ref errors
                    self.notify("warning", f"could not cancel eval job {flight.job.id} ({type(exc).__name__})")

    async def _shutdown(self) -> None:
        """Cancel what runs; those jobs go back to the queue without spending an attempt."""
        for ref, flight in self.flights.items():
            flight.done.cancel()  # nobody waits for it now
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._ray.cancel, ref, force=True)
            job = await self.store.job(flight.job.id)
            if job is not None and job.status == "running":
                await self.store.update_job(
                    job.id,
                    status="queued",
                    attempts=max(0, job.attempts - 1),
                    detail="interrupted by shutdown; will run again",
                )
        if self.flights:
            await asyncio.sleep(1.0)  # the cancelled workers exit; the sweep then finds their copies ownerless
        self.flights.clear()
        await self._sweep_nodes()

    async def _sweep_nodes(self) -> None:
        """Every live node removes the job copies its cancelled tasks left (a forced cancel skips their
        ``finally``); a node that does not answer in time sweeps at its next task."""
        if self._shelf is None:
            return
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        sweep = ray.remote(sweep_copies)
        with contextlib.suppress(Exception):
            nodes = [n["NodeID"] for n in await asyncio.to_thread(ray.nodes) if n.get("Alive")]
            refs = [
                sweep.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
                for node in nodes
            ]
            await asyncio.to_thread(ray.wait, refs, num_returns=len(refs), timeout=SWEEP_S)
