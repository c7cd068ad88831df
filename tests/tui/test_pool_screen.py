"""The evaluator's device pool on screen: each device with its job and progress, the queue by agent, busy devices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.helpers import SnapCompare, wait_for, wait_screen
from tests.tui.synthetic import CONFIG, _pin_timestamps, build_run
from tui.app import AarApp
from tui.screens.jobs import JobsScreen

POOL = CONFIG + '\n[devices]\nevaluator = ["cuda:0", "cuda:1"]\n'


async def build_pool_run(root: Path) -> RunPaths:
    """The synthetic run with two evaluator GPUs: agent-1's method runs on cuda:0, three jobs wait."""
    paths = await build_run(root)
    paths.config.write_text(POOL)
    async with await RunStore.open(paths.db) as store:
        jobs = []
        for agent in ("agent-1", "agent-1", "agent-3"):
            sub = await store.add_submission(agent, "method", {"filename": "m.py", "source": ""}, label="m.py")
            jobs.append(await store.enqueue_job("method", {"submission_id": sub}, submission_id=sub))
        claimed = await store.claim_job("worker-cuda0-abc123", device="cuda:0")
        assert claimed is not None and claimed.id == jobs[0] - 1  # the queued baseline goes first
        await store.update_job(claimed.id, status="done", progress=1.0, detail="baselines done")
        running = await store.claim_job("worker-cuda0-abc123", device="cuda:0")
        assert running is not None and running.id == jobs[0]
        await store.update_job(running.id, progress=0.45, detail="seed 1: running m.py in a fresh local sandbox")
    _pin_timestamps(paths.db)
    return paths


@pytest.fixture
def pool_run(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(asyncio.run(build_pool_run(tmp_path / "run")))


async def _jobs_screen(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, AarApp)
    await wait_for(pilot, lambda: bool(app.model.agents) and app.polls >= 2)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
    await wait_screen(pilot, "queue")
    await pilot.pause(0.2)


async def test_each_device_shows_its_job_and_the_queue_by_agent(pool_run: RunPaths) -> None:
    app = AarApp(pool_run.root)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, "eval 1/2 busy")
        assert "eval 1/2 busy, 2 queued" in text
        await _jobs_screen(pilot)
        text = await wait_screen(pilot, "cuda:1  idle")
        assert "evaluator · 1/2 devices busy · 2 queued · 0 failed" in text
        assert "cuda:0  #5 method agent-1  45% seed 1: running m.py" in text
        assert "queue   2 waiting: agent-1 1 · agent-3 1" in text


def test_jobs_screen_with_two_devices(snap_compare: SnapCompare, pool_run: RunPaths) -> None:
    assert snap_compare(AarApp(pool_run.root), terminal_size=(80, 24), run_before=_jobs_screen)
