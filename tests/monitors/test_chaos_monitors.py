"""The chaos bench's monitors invariant on a real run folder: the decisions the monitors made pass, a lost one is
caught."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from aar.config import dump_config
from aar.events import ToolCalled
from bench.chaos_monitors import monitor_decisions_recorded
from tests.monitors.helpers import decisions, monitored_config, monitors_running, settled


async def _monitored_run(tmp_path: Path) -> Path:
    """A run whose monitors heard one label hunt and one honest command, and decided on the hunt."""
    cfg = monitored_config()
    async with monitors_running(tmp_path, cfg) as (ctx, runner):
        ctx.paths.config.write_text(dump_config(cfg))
        hunt = {"command": "cat /proc/1/environ"}
        ctx.store.emit("agent-1", ToolCalled(step=1, call_id="c1", tool="bash", input=hunt))
        ctx.store.emit("agent-2", ToolCalled(step=1, call_id="c2", tool="bash", input={"command": "ls"}))
        await settled(runner)
        await ctx.store.flush()
        assert [d.agent for d in await decisions(ctx)] == ["agent-1"]
        return ctx.paths.root


def test_decisions_on_record_pass_and_a_lost_one_is_caught(tmp_path: Path) -> None:
    root = asyncio.run(_monitored_run(tmp_path))
    honest = monitor_decisions_recorded(root, upto=10**9)
    assert honest.count == 1 and honest.ok, honest.line()

    with sqlite3.connect(root / "run.db") as db:
        db.execute("DELETE FROM events WHERE kind = 'monitor.decision'")
    db.close()
    lost = monitor_decisions_recorded(root, upto=10**9)
    assert len(lost.violations) == 1 and "agent-1" in lost.violations[0], lost.line()
    assert monitor_decisions_recorded(root, upto=0).ok, "events after the last fault may still wait to be judged"
