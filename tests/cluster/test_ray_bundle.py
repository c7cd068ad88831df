"""The run folder through Ray's object store, and retries, on a real two-node Ray cluster."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from aar.config import RayConfig
from aar.runtime import RunPaths
from aar.store import JobRow, RunStore
from tests.cluster.conftest import LocalCluster
from tests.cluster.test_ray_jobs import BASELINES, all_done, on_local, on_ray, per_seed, prepared
from tests.support import eventually

pytestmark = pytest.mark.slow  # a Ray cluster, and methods verified in sandboxes

VANILLA = (Path(__file__).resolve().parents[2] / "evaluator" / "compute" / "methods" / "vanilla.py").read_text()
SLOW_START = VANILLA + "\n\nimport time\n\ntime.sleep(3)  # room for the test to kill it from outside\n"
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
    scores the baselines as the local worker did; a task told the folder is shared fails saying so."""
    import ray

    from evaluator.daemon.ray_bundle import BundleShelf
    from evaluator.daemon.ray_cluster import connect
    from evaluator.daemon.ray_task import ProgressBoard, RunFolder, TaskOutcome, run_on_node

    paths, store = await prepared(tmp_path)
    try:
        local = await store.enqueue_job("baselines", BASELINES)
        async with on_local(paths, store):
            await all_done(store, [local])
        expected = next(r for r in await store.results() if r.metrics.get("baseline") == "vanilla")
        job = await store.job(await store.enqueue_job("baselines", BASELINES))
        assert job is not None
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
    that is killed on every attempt is tried three times, then failed with the error of its last."""
    paths, store = await prepared(tmp_path)
    try:
        _, flaky = await method_job(store, "flaky.py", SLOW_START, [0])
        _, dies = await method_job(store, "dies.py", DIES, [0])
        config = RayConfig(address=ray_cluster.address, num_cpus=1, max_retries=2)
        async with on_ray(paths, store, config):
            [pid] = await eventually(
                lambda: run_method_pids("flaky.py"), timeout=180, what="flaky.py running", interval=0.05
            )
            os.kill(pid, signal.SIGKILL)

            async def settled() -> list[JobRow] | None:
                jobs = [await store.job(i) for i in (flaky, dies)]
                done = [j for j in jobs if j is not None and j.status in ("done", "failed")]
                return done if len(done) == 2 else None

            once, always = await eventually(settled, timeout=240, what="both jobs settled", interval=0.1)
        assert (once.status, once.attempts, once.error) == ("done", 2, ""), once
        assert [r.job_id for r in await store.results()] == [flaky]
        assert (always.status, always.attempts, always.detail) == ("failed", 3, "failed after 3 attempts"), always
        assert always.error.startswith("KilledFromOutside: seed 0: the method's process was killed (SIGKILL)")
        assert "\n" not in always.error
    finally:
        await store.close()
