"""The run folder through Ray's object store, and retries, on a real two-node Ray cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from aar.config import RayConfig
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, JobRow, RunStore
from tests.cluster.conftest import LocalCluster
from tests.cluster.test_ray_jobs import BASELINES, all_done, on_local, on_ray, per_seed, prepared
from tests.support import eventually

pytestmark = pytest.mark.slow  # a Ray cluster, and methods verified in sandboxes

VANILLA = (Path(__file__).resolve().parents[2] / "evaluator" / "compute" / "methods" / "vanilla.py").read_text()
HELD = (
    VANILLA
    + "\n\nimport signal\n\n# Held until the test kills it or lets it go (SIGWINCH: ignored unless awaited).\n"
    + "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH})\nsignal.sigtimedwait({signal.SIGWINCH}, 120)\n"
)
DIES = "import os, signal\n\n\ndef run(ctx):\n    os.kill(os.getpid(), signal.SIGKILL)\n"


async def method_job(store: RunStore, name: str, source: str, seeds: list[int]) -> tuple[int, int]:
    """``(submission, job)`` of a method submission over ``seeds``."""
    sub = await store.add_submission("agent-1", "method", {"filename": name, "source": source}, label=name)
    spec = {"submission_id": sub, "filename": name, "source": source, "seeds": seeds}
    return sub, await store.enqueue_job("method", spec, submission_id=sub)


def final_predictions(paths: RunPaths, submission: int) -> list[list[float]]:
    folder = paths.evaluator_dir / "verify" / str(submission)
    return [json.loads(p.read_text())["final"] for p in sorted(folder.glob("seed*.json"))]


async def test_a_method_verified_from_the_object_store_scores_as_on_the_local_worker(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """By default the task runs from the bundle the daemon put in the object store: the same per-seed scores as
    the local worker, and the method's final predictions come back into the run folder for ``--final``."""
    paths, store = await prepared(tmp_path)
    try:
        here_sub, here = await method_job(store, "vanilla.py", VANILLA, [0])
        async with on_local(paths, store):
            await all_done(store, [here])
        there_sub, there = await method_job(store, "vanilla.py", VANILLA, [0])
        config = RayConfig(address=ray_cluster.address, num_cpus=1)
        assert config.run_folder == "object_store"
        async with on_ray(paths, store, config):
            [job] = await all_done(store, [there])
        results = {r.job_id: r for r in await store.results()}
        local, remote = results[here].metrics["per_seed"], results[there].metrics["per_seed"]
        assert [(r["seed"], r["acc_transfer"]) for r in remote] == [(r["seed"], r["acc_transfer"]) for r in local]
        assert (results[there].pgr, results[there].ci_low) == (results[here].pgr, results[here].ci_low)
        assert job.worker == "ray" and job.attempts == 1
        assert final_predictions(paths, there_sub) == final_predictions(paths, here_sub) != []
    finally:
        await store.close()


async def test_a_task_runs_from_its_bundle_when_the_run_folder_is_gone(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """The bundle is packed and put, then the run folder is moved away: the task, which has only the bundle,
    scores the baselines, and verifies a method, as the local worker did (the method's outputs come back with
    its scores); a task told the folder is shared fails saying so."""
    import ray

    from evaluator.daemon.ray_bundle import BundleShelf, keep_returned
    from evaluator.daemon.ray_cluster import connect
    from evaluator.daemon.ray_task import ProgressBoard, RunFolder, TaskOutcome, run_on_node

    paths, store = await prepared(tmp_path)
    try:
        local = await store.enqueue_job("baselines", BASELINES)
        _, method_here = await method_job(store, "vanilla.py", VANILLA, [0])
        async with on_local(paths, store):
            await all_done(store, [local, method_here])
        expected = next(r for r in await store.results() if r.metrics.get("baseline") == "vanilla")
        verified = next(r for r in await store.results() if r.job_id == method_here)
        job = await store.job(await store.enqueue_job("baselines", BASELINES))
        sub, method_id = await method_job(store, "vanilla.py", VANILLA, [0])
        method = await store.job(method_id)
        assert job is not None and method is not None
    finally:
        await store.close()
    connect(RayConfig(address=ray_cluster.address))
    try:
        digest, ref = BundleShelf(paths.root, ray.put).current()
        paths.root.rename(tmp_path / "elsewhere")
        board = ray.remote(ProgressBoard).options(num_cpus=0).remote()
        task = ray.remote(run_on_node).options(num_cpus=1, max_retries=0)
        outcome: TaskOutcome = await asyncio.to_thread(
            ray.get, task.remote(RunFolder(digest=digest), job, board, ref), timeout=240
        )
        vanilla = next(r for r in outcome.results if r.metrics.get("baseline") == "vanilla")
        assert per_seed(vanilla.metrics) == per_seed(expected.metrics)
        assert (vanilla.pgr, vanilla.ci_low, vanilla.ci_high) == (expected.pgr, expected.ci_low, expected.ci_high)
        outcome = await asyncio.to_thread(
            ray.get, task.remote(RunFolder(digest=digest), method, board, ref), timeout=240
        )
        [scored] = outcome.results
        assert [r["acc_transfer"] for r in scored.metrics["per_seed"]] == [
            r["acc_transfer"] for r in verified.metrics["per_seed"]
        ]
        kept, _ = keep_returned(outcome.written, tmp_path / "returned")
        assert f"verify/{sub}/seed0.json" in kept
        with pytest.raises(ray.exceptions.RayTaskError) as caught:
            await asyncio.to_thread(ray.get, task.remote(RunFolder(shared=str(paths.root)), job, board), timeout=120)
        assert f"the run folder {paths.root} is not on node " in str(caught.value)
    finally:
        ray.shutdown()


def run_method_pids(filename: str) -> list[int]:
    """The processes running ``python -m evaluator.compute.run_method <filename>`` (not the sandbox around them)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if Path(argv[0]).name.startswith("python") and "evaluator.compute.run_method" in argv and filename in argv:
            found.append(int(entry.name))
    return found


async def test_a_job_that_raises_is_retried_as_configured_then_failed_with_its_error(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """``ray.max_retries = 2``: a method killed from outside on its first attempt is tried again and scored; one
    that is killed on every attempt is tried three times, then failed with the error of its last. The method
    waits for the test (killed, or let go once its first run is killed), so no timing decides it."""
    paths, store = await prepared(tmp_path)
    try:
        _, flaky = await method_job(store, "flaky.py", HELD, [0])
        _, dies = await method_job(store, "dies.py", DIES, [0])
        config = RayConfig(address=ray_cluster.address, num_cpus=1, max_retries=2)
        async with on_ray(paths, store, config):
            [pid] = await eventually(lambda: run_method_pids("flaky.py"), timeout=180, what="flaky.py running")
            os.kill(pid, signal.SIGKILL)

            async def let_go() -> None:
                """Every later run of flaky.py (the retry's scored run, then its canary) goes on."""
                while True:
                    for later in run_method_pids("flaky.py"):
                        if later != pid:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(later, signal.SIGWINCH)
                    await asyncio.sleep(0.1)

            async def settled() -> list[JobRow] | None:
                jobs = [await store.job(i) for i in (flaky, dies)]
                done = [j for j in jobs if j is not None and j.status in ("done", "failed")]
                return done if len(done) == 2 else None

            releasing = asyncio.create_task(let_go())
            try:
                once, always = await eventually(settled, timeout=240, what="both jobs settled", interval=0.1)
            finally:
                releasing.cancel()
        assert (once.status, once.attempts, once.error) == ("done", 2, ""), once
        assert [r.job_id for r in await store.results()] == [flaky]
        assert (always.status, always.attempts, always.detail) == ("failed", 3, "failed after 3 attempts"), always
        assert always.error.startswith("KilledFromOutside: seed 0: the method's process was killed (SIGKILL)")
        assert "\n" not in always.error
    finally:
        await store.close()


TARGET = {"name": "classic", "task": {"name": "toy", "variant": "classic", "size": 600}, "seeds": 1}


async def test_two_transfer_jobs_to_an_unprepared_target_score_on_one_draw(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """Two transfer jobs to a target no job has prepared are sent together (room for two), each building the
    target in its own copy: the daemon drew the target's secret before packing the first, so both build the
    same data and score the same; the run folder keeps that secret, and the first bundle and labels back."""
    from evaluator.compute.prepare import prepare
    from tests.evaluator.helpers import make_run

    paths = make_run(tmp_path / "run", evaluator={"seeds": 1}, task={"size": 600}, transfer={"targets": [TARGET]})
    await asyncio.to_thread(prepare, paths.root)
    store = await RunStore.open(paths.db, create=True)
    target = paths.evaluator_dir / "targets" / "classic"
    try:
        sub, _ = await method_job(store, "vanilla.py", VANILLA, [0])
        spec = {"submission_id": sub, "target": "classic", "filename": "vanilla.py", "source": VANILLA}
        ids = [await store.enqueue_job("transfer", spec, submission_id=sub) for _ in range(2)]
        assert not target.exists()
        async with on_ray(paths, store, RayConfig(address=ray_cluster.address, num_cpus=1)):
            await all_done(store, ids, timeout=400)
        results = [r for r in await store.results(split=TRANSFER_SPLIT) if r.job_id in ids]
        assert len(results) == 2
        first, second = results
        assert first.metrics["per_seed"][0]["acc_transfer"] == second.metrics["per_seed"][0]["acc_transfer"]
        assert (first.pgr, first.metrics["vanilla_pgr"]) == (second.pgr, second.metrics["vanilla_pgr"])
        assert json.loads((target / "secret.json").read_text())["data_seed"] > 0
        assert (target / "bundle" / "task.json").is_file() and (target / "heldout" / "final.json").is_file()
    finally:
        await store.close()


async def test_a_bundle_that_cannot_be_packed_fails_that_attempt_not_the_service(
    tmp_path: Path, ray_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon cannot pack the run folder for one attempt (a file vanished under it): that attempt fails in
    one line and the job goes back to the queue, never left running without a task; the next one runs."""
    from evaluator.daemon.ray_pool import RayPool

    real = RayPool._folder
    calls: list[int] = []

    def flaky(pool: RayPool, job: JobRow) -> Any:
        calls.append(job.id)
        if len(calls) == 1:
            raise FileNotFoundError("evaluator/cache/w.json\nvanished")
        return real(pool, job)

    monkeypatch.setattr(RayPool, "_folder", flaky)
    paths, store = await prepared(tmp_path)
    try:
        job_id = await store.enqueue_job("baselines", BASELINES)
        notes: list[str] = []
        async with on_ray(paths, store, RayConfig(address=ray_cluster.address, num_cpus=1)) as pool:
            pool.notify = lambda level, message: notes.append(message)
            [job] = await all_done(store, [job_id])
        assert job.attempts == 2 and calls == [job_id, job_id]
        assert f"eval job {job_id}: its run folder could not be sent: evaluator/cache/w.json vanished" in notes
    finally:
        await store.close()


async def test_a_node_that_cannot_set_a_job_up_requeues_it_without_spending_a_retry(
    tmp_path: Path, ray_cluster: LocalCluster
) -> None:
    """``ray.run_folder = "shared"`` but no node has the run folder: each attempt is the node's fault
    (``NodeSetupError``), requeued like a lost node without spending a retry, until the cap on lost nodes."""
    from evaluator.daemon.ray_pool import MAX_NODES_LOST

    _, store = await prepared(tmp_path)
    try:
        job_id = await store.enqueue_job("baselines", BASELINES)
        config = RayConfig(address=ray_cluster.address, num_cpus=1, run_folder="shared", max_retries=0)
        async with on_ray(RunPaths(tmp_path / "not-mounted"), store, config):

            async def failed() -> JobRow | None:
                job = await store.job(job_id)
                return job if job is not None and job.status == "failed" else None

            job = await eventually(failed, timeout=120, what="the job to fail", interval=0.1)
        assert (job.attempts, job.detail) == (1, f"failed: lost {MAX_NODES_LOST} nodes"), job
        assert "could not run it (NodeSetupError: the run folder " in job.error and "\n" not in job.error
    finally:
        await store.close()
