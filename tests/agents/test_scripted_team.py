"""Two scripted researchers against the real evaluator: claims, real runs, scored submissions, results posted."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest

from aar.config import RunConfig, dump_config
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.team import run_team
from evaluator.daemon.service import prepare_workspaces, serve

CYCLE_STEPS = 8
"""forum_read, leaderboard, claim, write_file, bash, submit_predictions, submit_method, result post."""


@pytest.mark.slow
async def test_two_scripted_researchers_run_submit_and_report_real_results(tmp_path: Path) -> None:
    config = RunConfig.model_validate(
        {
            "run": {"name": "e2e", "max_steps": CYCLE_STEPS},
            "team": {"count": 2, "backend": "scripted"},
            "sandbox": {"backend": "local", "exec_timeout_s": 300},
            "task": {"size": 1000},
            "evaluator": {"seeds": 1, "device": "cpu", "rate_limit_per_min": 100},
        }
    )
    paths = RunPaths(tmp_path / "e2e-run")
    paths.make()
    paths.config.write_text(dump_config(config))
    store = await RunStore.open(paths.db, create=True)
    ctx = RunContext(paths=paths, config=config, store=store)
    try:
        await prepare_workspaces(ctx)
        service = asyncio.create_task(serve(ctx))
        try:
            await asyncio.wait_for(run_team(ctx), 240)
        finally:
            ctx.stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(service, 60)
        agents = {a.name: a for a in await store.agents()}
        posts = await store.posts()
        subs = await store.submissions()
        board = await store.leaderboard()
    finally:
        await store.close()

    assert {a.status for a in agents.values()} == {"finished"} and {a.steps for a in agents.values()} == {CYCLE_STEPS}
    claims = {p.author: p for p in posts if p.title.startswith("Claim:")}
    results = {p.author: p for p in posts if p.title.startswith("Result:")}
    assert set(claims) == set(results) == set(agents)
    assert claims["agent-1"].title != claims["agent-2"].title, "the second claim avoided the first"
    for name in agents:
        mine = [s for s in subs if s.agent == name]
        assert [s.kind for s in mine] == ["predictions", "method"] and {s.status for s in mine} == {"scored"}, mine
        method = mine[1]
        row = next(r for r in board if r.submission_id == method.id)
        # The result post quotes the evaluator's own number, in the claim's thread.
        assert results[name].parent_id == claims[name].id
        quoted = re.search(r"PGR (-?\d+\.\d+)", results[name].title)
        assert (
            quoted and row.pgr is not None and float(quoted.group(1)) == pytest.approx(row.pgr, abs=0.0051)
        )  # agents see 0.01
        # The method ran for real in the agent's sandbox before it was submitted.
        workspace = paths.workspace(name)
        method_file = workspace / "methods" / method.payload["filename"]
        assert method_file.read_text() == method.payload["source"] and "def run(ctx)" in method.payload["source"]
        assert list((workspace / "out").glob("*.predictions.json"))
    assert {r.split for r in board} == {"feedback", "seeds"}
