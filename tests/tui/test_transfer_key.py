"""`t` on the leaderboard re-runs the chosen method on the transfer targets: the key writes a `transfer` command,
the daemon's real poller applies it with the evaluator's own planner, and the jobs are in the store."""

from __future__ import annotations

import functools

from aar.config import RunConfig, load_config
from aar.runtime import RunPaths
from aar.store import LeaderboardRow, RunStore
from evaluator.daemon.transfer import transfer_command
from tests.tui.daemon import Daemon
from tests.tui.helpers import wait_for, wait_screen
from tests.tui.test_keys import WIDE, _open, _ready
from tui.app import AarApp
from tui.screens.leaderboard import LeaderboardScreen
from tui.widgets.leaderboard_table import LeaderboardTable

SOURCE = "from evaluator.compute.methods.vanilla import run\n"


async def _verified_method(store: RunStore) -> int:
    done = await store.enqueue_job("baselines", {"seeds": [0]}, status="done")
    assert done
    sid = await store.add_submission("agent-2", "method", {"filename": "m.py", "source": SOURCE}, label="m.py")
    job = await store.enqueue_job(
        "method", {"submission_id": sid, "filename": "m.py", "source": SOURCE}, submission_id=sid, status="done"
    )
    await store.update_submission(sid, status="scored")
    await store.add_result(job, submission_id=sid, split="seeds", pgr=0.99, ci_low=0.98, ci_high=1.0, metrics={})
    return sid


async def test_t_on_a_method_queues_its_transfer_jobs_and_on_a_prediction_file_writes_nothing(
    run: RunPaths, daemon: Daemon
) -> None:
    targets = [{"name": "classic", "task": {"name": "toy", "variant": "classic"}}]
    config = RunConfig.model_validate({**load_config(run.config).model_dump(), "transfer": {"targets": targets}})
    daemon.poller.transfer = functools.partial(transfer_command, daemon.store, config)
    sid = await _verified_method(daemon.store)
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await _open(pilot, "l", LeaderboardScreen)
        await wait_screen(pilot, "0.990 [0.98, 1.00]")
        table = app.screen.query_one(LeaderboardTable)
        shown = [(r.submission_id, r.kind) if isinstance(r, LeaderboardRow) else None for r in table.rows_shown]
        table.move_cursor(row=next(i for i, r in enumerate(shown) if r and r[1] == "predictions"))
        await pilot.press("t")
        await pilot.pause()
        assert await daemon.store.pending_commands() == [], "a prediction file has no method to transfer"

        table.move_cursor(row=shown.index((sid, "method")))
        await pilot.press("t")
        command = await daemon.apply()
        assert (command.kind, command.target, command.payload["submission_id"]) == ("transfer", "@run", sid)
        status, effect = await daemon.effect(command.id)
        (job,) = [j for j in await daemon.store.jobs() if j.kind == "transfer"]
        assert (status, effect) == ("applied", f"submission #{sid} on classic: queued as job {job.id}")
        assert job.submission_id == sid

        await pilot.press("t")  # again: nothing new, and the effect says where the first went
        again = await daemon.apply()
        assert await daemon.effect(again.id) == (
            "applied",
            f"submission #{sid} on classic: already queued: job {job.id}",
        )
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen))
