"""A worker that dies while it verifies a method leaves its scratch folder; the supervisor removes it.
A daemon that dies does not spend the attempts of the jobs its worker ran.

Found by the chaos bench: every run with an evaluator worker killed mid-verification left a
``workspaces/.verify-*`` folder that nothing removed. Real store, real folders, no worker process.
"""

from __future__ import annotations

from pathlib import Path

from aar.runtime import RunPaths
from aar.store import RunStore
from evaluator.daemon.supervisor import WorkerSupervisor
from tests.evaluator.helpers import make_run


async def _running_method(store: RunStore, worker: str) -> int:
    """A method submission whose verification ``worker`` has claimed; returns the submission id."""
    sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": "def run(ctx): ..."})
    await store.enqueue_job("method", {"kind": "method", "submission_id": sid, "source": "x"}, submission_id=sid)
    job = await store.claim_job(worker)
    assert job is not None and job.submission_id == sid
    return sid


def _scratch(paths: RunPaths, sid: int, outside: Path) -> Path:
    """A verification folder as a method leaves it: nested, with a link out that must not be followed."""
    folder = paths.workspaces / f".verify-{sid}-0a1b2c3d-x1y2"
    (folder / "task" / "deep").mkdir(parents=True)
    (folder / "task" / "deep" / "preds.json").write_text("[0, 1]")
    (folder / "out").symlink_to(outside)
    return folder


async def test_a_dead_workers_scratch_folders_go_and_a_live_ones_stay(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the evaluator's to remove")
    store = await RunStore.open(paths.db, create=True)
    try:
        dead, live = await _running_method(store, "w-dead"), await _running_method(store, "w-live")
        dead_folder, live_folder = _scratch(paths, dead, outside), _scratch(paths, live, outside)
        agent_file = paths.workspaces / ".verify-notes.txt"  # not a folder: not the evaluator's scratch
        agent_file.write_text("mine")

        supervisor = WorkerSupervisor(paths, store, job_timeout_s=60)
        requeued = await supervisor._requeue("w-dead", "the evaluator worker died (exit code -9)")

        assert len(requeued) == 1 and not dead_folder.exists()
        assert live_folder.is_dir(), "a live worker's verification keeps its folder"
        assert (outside / "keep.txt").read_text() == "not the evaluator's to remove", "the link was not followed"
        assert agent_file.read_text() == "mine"

        await supervisor.recover()  # a new daemon: no worker of the old one is alive
        assert not live_folder.exists() and [p.name for p in paths.workspaces.glob(".verify-*")] == [agent_file.name]
        assert (outside / "keep.txt").exists()
        jobs = {j.submission_id: (j.status, j.attempts) for j in await store.jobs()}
        assert jobs == {dead: ("queued", 1), live: ("queued", 0)}, (
            "a worker's death spends the attempt; the daemon's death does not (a resume would fail the job)"
        )
    finally:
        await store.close()
