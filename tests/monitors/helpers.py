"""Helpers of the monitor tests: a real store with the monitors' task running on its event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aar.clock import SYSTEM_CLOCK, Clock
from aar.config import RunConfig
from aar.events import MonitorDecided
from aar.runtime import RunContext
from aar.store import CommandRow
from agents.monitors import MonitorRunner
from tests.agents.helpers import Heard, config, events, run_context
from tests.support import FakeClock, eventually


def monitored_config(monitors: list[dict[str, Any]] | None = None, **sections: Any) -> RunConfig:
    cfg = config(team={"count": 2}, **sections)
    if monitors is not None:
        cfg = RunConfig.model_validate({**cfg.model_dump(), "monitors": monitors})
    return cfg


@asynccontextmanager
async def monitors_running(
    tmp_path: Path, cfg: RunConfig, *, clock: Clock = SYSTEM_CLOCK, tick_s: float = 3600
) -> AsyncIterator[tuple[RunContext, MonitorRunner]]:
    """A run context whose monitors hear every event emitted on its store (and tick every ``tick_s`` of ``clock``)."""
    async with run_context(tmp_path, cfg, clock=clock) as ctx:
        runner = MonitorRunner(ctx, tick_s=tick_s)
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.listening.wait(), 10)
        try:
            yield ctx, runner
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def settled(runner: MonitorRunner) -> None:
    """Wait until the runner has handled everything emitted so far."""
    await eventually(lambda: runner.caught_up, timeout=10, what="the monitors to handle what was emitted")


async def decisions(ctx: RunContext) -> list[Heard[MonitorDecided]]:
    return await events(ctx.store, MonitorDecided)


async def commands(ctx: RunContext) -> list[CommandRow]:
    return await ctx.store.commands()


async def tick_minutes(runner: MonitorRunner, clock: FakeClock, minutes: int) -> None:
    """Move ``clock`` on ``minutes``, one monitors' tick (of a minute) at a time, each judged before the next."""
    assert runner.tick_s == 60, "one tick a minute"
    for _ in range(minutes):
        await eventually(lambda: clock.sleepers == 1, what="the monitors to wait for their next tick")
        clock.advance(60)
        await eventually(lambda: clock.sleepers == 1, what="the monitors to judge the tick")
