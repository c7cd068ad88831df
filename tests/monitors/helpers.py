"""Helpers of the monitor tests: a real store with the monitors' task running on its event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aar.config import RunConfig
from aar.events import MonitorDecided
from aar.runtime import RunContext
from aar.store import CommandRow
from agents.monitors import MonitorRunner
from tests.agents.helpers import Heard, config, events, run_context, wait_for


def monitored_config(monitors: list[dict[str, Any]] | None = None, **sections: Any) -> RunConfig:
    cfg = config(team={"count": 2}, **sections)
    if monitors is not None:
        cfg = RunConfig.model_validate({**cfg.model_dump(), "monitors": monitors})
    return cfg


@asynccontextmanager
async def monitors_running(tmp_path: Path, cfg: RunConfig) -> AsyncIterator[tuple[RunContext, MonitorRunner]]:
    """A run context whose monitors hear every event emitted on its store."""
    async with run_context(tmp_path, cfg) as ctx:
        runner = MonitorRunner(ctx, tick_s=3600)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.05)  # subscribed (after replaying the empty log)
        try:
            yield ctx, runner
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def settled(runner: MonitorRunner) -> None:
    """Wait until the runner has handled everything emitted so far."""
    await asyncio.sleep(0)
    await wait_for(lambda: runner.caught_up, timeout=10)
    await asyncio.sleep(0.05)


async def decisions(ctx: RunContext) -> list[Heard[MonitorDecided]]:
    return await events(ctx.store, MonitorDecided)


async def commands(ctx: RunContext) -> list[CommandRow]:
    return await ctx.store.commands()
