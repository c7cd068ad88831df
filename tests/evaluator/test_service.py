"""The evaluator service as the daemon runs it: workspaces, baselines, a scored submission, final once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import numpy as np
import pytest

from aar.config import load_config
from aar.runtime import RunContext
from aar.store import RunStore
from evaluator.daemon.final import FinalAlreadyScored, score_final
from evaluator.daemon.service import prepare_workspaces, serve
from tests.evaluator.helpers import interval, make_run
from tests.support import eventually

pytestmark = pytest.mark.slow  # runs the evaluator worker process (torch training)


async def test_service_scores_feedback_and_final_only_once(tmp_path: Path) -> None:
    paths = make_run(
        tmp_path / "run",
        evaluator={"seeds": 2, "rate_limit_per_min": 100},
        task={"size": 1000},
        sandbox={"backend": "local"},
    )
    store = await RunStore.open(paths.db, create=True)
    ctx = RunContext(paths=paths, config=load_config(paths.config), store=store)
    await prepare_workspaces(ctx)
    for agent in ctx.config.resolved_agents():
        task = paths.workspace(agent.name) / "task"
        assert json.loads((task / "task.json").read_text())["sizes"]["feedback"] == 500
        for name in ("train_unlabel", "feedback", "final"):
            with np.load(task / f"{name}.npz") as f:
                assert "y" not in f.files, f"{name} labels leaked into {agent.name}'s workspace"
        assert not (task / "heldout").exists() and 'data_seed": null' in (task / "task.json").read_text()

    served = asyncio.create_task(serve(ctx))
    try:

        async def baselines_done() -> bool:
            return any(j.kind == "baselines" and j.status == "done" for j in await store.jobs())

        await eventually(baselines_done, timeout=90, what="the baselines job", interval=0.1)
        # Submit the ceiling's own predictions of seed 0: its PGR must come out near 1.
        cache = next((paths.evaluator_dir / "cache").glob("*/*/baseline-0-*.json"))
        ceiling = [int(p > 0.5) for p in json.loads(cache.read_text())["ceiling"][:500]]
        sid = await store.add_submission("agent-1", "predictions", {"predictions": ceiling})
        method = await store.add_submission(
            "agent-2",
            "method",
            {"filename": "conf.py", "source": "from evaluator.compute.methods.confidence import run\n"},
        )

        async def scored() -> bool:
            subs = [await store.submission(i) for i in (sid, method)]
            return all(s is not None and s.status in ("scored", "failed", "rejected") for s in subs)

        await eventually(scored, timeout=120, what="the submissions to be scored", interval=0.1)
    finally:
        ctx.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(served, 30)

    sub = await store.submission(sid)
    assert sub is not None
    assert sub.status == "scored", sub.error
    (result,) = await store.results(submission_id=sid)
    low, estimate, high = interval(result)
    assert result.split == "feedback" and estimate == pytest.approx(1.0, abs=0.1)
    assert low <= estimate <= high  # the ceiling's seeds can err on the very same inputs
    assert result.metrics["ci"].startswith("95% bootstrap")
    kinds = {e.kind for e in await store.events_after(0, limit=10_000)}
    assert {"submission.created", "eval.job", "eval.result"} <= kinds
    assert [r.split for r in await store.results(split="final")] == [], "final is never scored by the service"
    msub = await store.submission(method)
    assert msub is not None
    assert msub.status == "scored", msub.error
    (mres,) = await store.results(submission_id=method)
    assert mres.split == "seeds" and mres.pgr is not None and len(mres.metrics["per_seed"]) == 2
    board = await store.leaderboard()
    assert {row.submission_id for row in board} == {sid, method}

    rows = await score_final(store, paths, ctx.config)
    assert [(r.split, r.submission_id) for r in rows] == [
        ("final", None),
        ("final", None),
        ("final", method),
    ]  # vanilla and the unsupervised reference, then the method
    assert [r.metrics["baseline"] for r in rows[:2]] == ["vanilla", "unsupervised"]
    assert all(r.pgr is not None for r in rows)
    assert [r.baseline for r in await store.references(include_final=True) if r.split == "final"] != []
    with pytest.raises(FinalAlreadyScored, match="once per run"):
        await score_final(store, paths, ctx.config)
    assert len(await store.results(split="final")) == 3
    await store.close()
