"""Every flag the store holds is in ``aar report`` (json and markdown), rejected submissions included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aar.store import RunStore
from tests.evaluator.helpers import make_run


@pytest.mark.slow
async def test_every_flag_the_store_holds_appears_in_the_report(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "runs" / "flags-1")
    async with await RunStore.open(paths.db, create=True) as store:
        probe = await store.add_submission("agent-1", "predictions", {"predictions": [0]}, label="p.json")
        await store.update_submission(probe, status="scored", flags=["probe"])
        job = await store.enqueue_job("predictions", {}, submission_id=probe)
        await store.add_result(
            job, submission_id=probe, split="feedback", pgr=0.3, ci_low=0.2, ci_high=0.4, metrics={}, flags=[]
        )
        over = await store.add_submission("agent-1", "predictions", {"predictions": [0]}, label="q.json")
        await store.update_submission(over, status="rejected", flags=["over_budget"], error="query budget used: 3")
        fast = await store.add_submission("agent-2", "method", {"source": "x"}, label="m.py")
        await store.update_submission(fast, status="rejected", flags=["rate_limited"], error="rate limit | 6 a minute")
        bad = await store.add_submission("agent-2", "method", {"source": "x"}, label="bad.py")
        await store.update_submission(bad, status="rejected", flags=["malformed"], error="bad.py:1: syntax error")
        fixed = await store.add_submission("agent-2", "method", {"source": "y"}, label="fixed.py")
        await store.update_submission(fixed, status="scored", flags=["probe", "unisolated"])
        job = await store.enqueue_job("method", {}, submission_id=fixed)
        await store.add_result(
            job,
            submission_id=fixed,
            split="seeds",
            pgr=0.5,
            ci_low=0.4,
            ci_high=0.6,
            metrics={},
            flags=["ignores_labels"],
        )
        failed = await store.add_submission("agent-2", "method", {"source": "z"}, label="boom.py")
        await store.update_submission(failed, status="failed", error="seed 0: the method exited with 1: boom")
        copies = []
        for n, of in ((2, probe), (3, over)):
            copy = await store.add_submission("agent-3", "predictions", {"predictions": [0]}, label=f"c{n}.json")
            await store.update_submission(copy, status="scored", flags=[f"copy of #{of} (agent-1, {n} flips)"])
            copies.append(copy)
        clean = await store.add_submission("agent-1", "method", {"source": "w"}, label="clean.py")
        await store.update_submission(clean, status="scored", links=[f"method behind #{probe}"])
        job = await store.enqueue_job("method", {}, submission_id=clean)
        await store.add_result(job, submission_id=clean, split="seeds", pgr=0.4, ci_low=0.3, ci_high=0.5, metrics={})
        subs = await store.submissions()

    def report(fmt: str) -> str:
        argv = [sys.executable, "-m", "aar_app.cli", "report", paths.run_id, "--runs-dir", str(paths.root.parent)]
        done = subprocess.run([*argv, "--format", fmt], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    data = json.loads(report("json"))
    by_id = {f["submission_id"]: f for f in data["flagged"]}
    for sub in subs:
        for flag in sub.flags:
            assert flag in by_id[sub.id]["flags"], (sub, by_id.get(sub.id))
    assert set(by_id) == {probe, over, fast, bad, fixed, failed, *copies}, "clean scored submissions are not listed"
    (linked,) = [e for e in data["leaderboard"] if e["submission_id"] == clean]
    assert linked["flags"] == [] and linked["links"] == [f"method behind #{probe}"], "a link is not a flag"
    assert by_id[fixed]["flags"] == ["probe", "unisolated", "ignores_labels"], (
        "the result's flags join the submission's"
    )
    assert by_id[over]["reason"] == "query budget used: 3" and by_id[over]["status"] == "rejected"
    assert by_id[failed]["reason"].endswith("boom") and by_id[probe]["reason"] == ""
    assert data["flags"] == {
        "probe": 2,
        "over_budget": 1,
        "rate_limited": 1,
        "malformed": 1,
        "unisolated": 1,
        "ignores_labels": 1,
        "copy": 2,
    }, "a copy relation counts by its kind; the flagged list keeps which file it copies"
    assert by_id[copies[0]]["flags"] == [f"copy of #{probe} (agent-1, 2 flips)"]
    assert data["flags_by_agent"] == {
        "agent-1": {"probe": 1, "over_budget": 1},
        "agent-2": {"rate_limited": 1, "malformed": 1, "probe": 1, "unisolated": 1, "ignores_labels": 1},
        "agent-3": {"copy": 2},
    }
    markdown = report("md")
    assert "## Rejected and flagged submissions" in markdown
    assert "query budget used: 3" in markdown and "rate limit \\| 6 a minute" in markdown
    assert "| agent-2 | 0 | 1 | 1 | 0 | 1 | 1 | 1 |" in markdown, markdown
    assert "| agent-3 | 2 | 0 | 0 | 0 | 0 | 0 | 0 |" in markdown, "copy relations count in one column"
    assert f"| agent-1 | {clean} · method behind #{probe} | clean.py | method | seeds | 0.400 [0.300, 0.500] | - |" in (
        markdown
    )
