"""The jobs screen shows what each finished job's training did (examples/s, tokens/s, padding, memory, MFU)."""

from __future__ import annotations

from aar.eval_jobs import JobStats
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.helpers import wait_for, wait_screen
from tui.app import AarApp
from tui.screens.jobs import JobsScreen

STATS = JobStats(
    examples=960,
    examples_per_s=812.4,
    tokens_per_s=41234.0,
    padding_share=0.087,
    peak_memory_mb=1228.8,
    memory_kind="cuda",
    mfu=0.381,
)


async def test_a_finished_job_shows_its_throughput(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as daemon:
        job = await daemon.enqueue_job("baselines", {"seeds": [0, 1]})
        await daemon.update_job(job, status="done", progress=1.0, stats=STATS, detail="PGR 0.31")
    app = AarApp(run.root)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        text = await wait_screen(pilot, "812 ex/s")
        assert "PGR 0.31 · 812 ex/s · 41.2k tok/s · pad 9% · 1.2 GB cuda · MFU 38%" in text
