"""The monitors' replay (a resumed run feeding the log's earlier events to the rules) skips events it cannot
read, logs each once, and counts the good events on both sides of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from aar.events import ToolCalled
from agents.monitors import MonitorRunner
from tests.agents.helpers import run_context
from tests.monitors.helpers import commands, decisions, monitored_config, settled
from tests.unreadable import REASONS, unreadable_rows


def _ls(step: int) -> ToolCalled:
    return ToolCalled(step=step, call_id=f"c{step}", tool="bash", input={"command": "ls"})


async def test_replay_skips_unreadable_events_once_and_counts_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_context(tmp_path, monitored_config()) as ctx:
        for step in (1, 2):
            ctx.store.emit("agent-2", _ls(step))
        ctx.store.emit_raw(unreadable_rows("tool.call", agent="agent-2"))
        for step in (3, 4):
            ctx.store.emit("agent-2", _ls(step))
        await ctx.store.flush()
        runner = MonitorRunner(ctx, tick_s=3600)
        with caplog.at_level(logging.WARNING, logger="aar.agents.monitors"):
            task = asyncio.create_task(runner.run())
            try:
                await asyncio.sleep(0.05)  # replayed, subscribed
                ctx.store.emit("agent-2", _ls(5))  # the fifth: four came before it, across the unreadable rows
                await settled(runner)
                [decision] = await decisions(ctx)
                assert await commands(ctx) == []
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert (decision.agent, decision.payload.rule, decision.payload.reason) == (
        "agent-2",
        "loops",
        "the same bash call 5 times in a row",
    )
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    # The replay reads only the kinds its rules read: the unknown kind is not among them, the other two are.
    assert len(skipped) == 2, skipped
    assert REASONS[0] in skipped[0] and REASONS[2] in skipped[1]
    assert all("(tool.call) unreadable: " in line for line in skipped)
