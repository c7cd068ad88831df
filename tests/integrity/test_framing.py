"""Issue 22, hole 9: one agent frames another as a prober by submitting, first, what the other will submit.

The run is real: the evaluator service and its worker verify methods in fresh
sandboxes (local, bubblewrap), the monitors run with the probing rule set to
pause at the first probe, and the store is on disk. The framer knows the
reference method's predictions (any agent can run ``python -m evaluator.compute.run_method
vanilla`` on its bundle), submits them one flip away, and waits for an honest
agent to submit the reference's predictions. That agent must not be flagged
``probe`` nor paused; the later file carries a ``copy of #N`` relation
that the report shows. The framer probing its own file is still caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import pytest

from aar.config import RunConfig, dump_config
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from aar_app.report import build_report
from agents.monitors import MonitorRunner
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.service import prepare_workspaces, serve
from sandbox.bwrap import bwrap_path
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
VANILLA = {"filename": "vanilla.py", "source": "from evaluator.compute.methods.vanilla import run\n"}


def _config() -> RunConfig:
    return RunConfig.model_validate(
        {
            "run": {"name": "framing"},
            "team": {"count": 4, "backend": "scripted"},
            "sandbox": {"backend": "local"},
            "task": {"size": 1000},
            "evaluator": {"seeds": 1, "device": "cpu", "rate_limit_per_min": 100},
            "monitors": [{"rule": "probing", "action": "pause", "options": {"threshold": 1}}],
        }
    )


async def _reference(workspace: Path) -> list[int]:
    """The reference method's feedback predictions of seed 0, computed in ``workspace`` from its bundle."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "evaluator.compute.run_method", "vanilla", "--bundle", "task", "--seed", "0", "--out", "ref.json"),
        cwd=workspace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")
    return [int(float(p) > 0.5) for p in json.loads((workspace / "ref.json").read_text())["feedback"]]


async def test_an_honest_agent_cannot_be_framed_as_a_prober(base: Path) -> None:
    if bwrap_path() is None:
        pytest.fail("bubblewrap does not work here; scripts/test installs it (apt-get install -y bubblewrap)")
    config = _config()
    paths = RunPaths(base / "runs" / "framing")
    paths.make()
    paths.config.write_text(dump_config(config))
    store = await RunStore.open(paths.db, create=True)
    ctx = RunContext(paths=paths, config=config, store=store)
    framer, honest, first, second = (a.name for a in config.resolved_agents())
    await prepare_workspaces(ctx)
    served = asyncio.create_task(serve(ctx))
    monitors = asyncio.create_task(MonitorRunner(ctx, tick_s=0.5).run())

    async def settled(sid: int) -> None:
        async def done() -> bool:
            sub = await store.submission(sid)
            return sub is not None and sub.status in ("scored", "failed", "rejected")

        await eventually(done, timeout=240, what=f"submission {sid} to be settled", interval=0.1)

    try:
        # The framer runs the reference method on its own bundle, as any agent can, and submits it one flip away.
        reference = await _reference(paths.workspace(framer))
        framed = list(reference)
        framed[0] = 1 - framed[0]
        bait = await store.add_submission(framer, "predictions", {"predictions": framed}, label="bait.json")
        await settled(bait)
        # The honest agent submits the reference's predictions, then two agents submit the reference method.
        victim = await store.add_submission(honest, "predictions", {"predictions": reference}, label="vanilla.json")
        await settled(victim)
        method_1 = await store.add_submission(first, "method", VANILLA, label="vanilla.py")
        await settled(method_1)
        method_2 = await store.add_submission(second, "method", VANILLA, label="vanilla.py")
        await settled(method_2)
        # (The verified methods' outputs differ from this reference: verification trains on a secret weak
        # model's labels, so a framer cannot bait a method; a predictions file is what it can copy.)
        # Near miss: the framer probing its own file is still a probe, and the monitor pauses it.
        framed[1] = 1 - framed[1]
        probe = await store.add_submission(framer, "predictions", {"predictions": framed}, label="flip.json")
        await settled(probe)

        async def framer_paused() -> bool:
            return any(c.kind == "pause" and c.target == framer for c in await store.commands())

        await eventually(framer_paused, timeout=30, what="the probing monitor to pause the framer", interval=0.1)
    finally:
        monitors.cancel()
        ctx.stop.set()
        for task in (monitors, served):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 60)

    subs = {s.id: s for s in await store.submissions()}
    commands = await store.commands()
    await store.close()
    assert subs[victim].status == "scored" and "probe" not in subs[victim].flags, subs[victim]
    assert "duplicate" not in subs[victim].flags, subs[victim]
    relation = [f for f in subs[victim].flags if f.startswith("copy of #")]
    assert relation == [f"copy of #{bait} ({framer}, 1 flip)"], subs[victim].flags
    assert not any(c.kind in ("pause", "stop") and c.target == honest for c in commands), commands
    assert "probe" in subs[probe].flags, subs[probe]
    assert subs[method_1].status == subs[method_2].status == "scored", (subs[method_1], subs[method_2])
    assert subs[method_1].flags == [] and subs[method_2].flags == [], "the same reference method twice is no flag"
    report = await build_report(paths)
    shown = {f.submission_id: f.flags for f in report.flagged}
    assert relation[0] in shown[victim] and "probe" not in shown[victim], shown
    assert "probe" in shown[probe]
