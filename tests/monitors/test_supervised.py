"""The monitors under the daemon's supervisor: a rule whose ``tick`` raises used to end all monitoring without
a trace. Now the failure is an ``error`` event and an inbox item, the task starts again after its backoff,
what was emitted meanwhile is judged, and ``caught_up`` counts an item that is still being judged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aar.config import MonitorConfig
from aar.events import ErrorRaised, ToolCalled
from aar.inbox import catch_up
from aar.tasks import Restart
from agents.monitors import MonitorRunner
from agents.monitors.base import Finding, MonitorEnv, Rule, Seen, SyncRule
from tests.agents.helpers import events, run_context
from tests.monitors.helpers import decisions, monitored_config, settled
from tests.support import FakeClock, eventually


def _ls(step: int) -> ToolCalled:
    return ToolCalled(step=step, call_id=f"c{step}", tool="bash", input={"command": "ls"})


class _TickFailsOnce(SyncRule):
    """A rule with a bug in its first ``tick``."""

    kinds = frozenset({"agent.status"})

    def __init__(self, config: MonitorConfig, env: MonitorEnv) -> None:
        super().__init__(config, env)
        self.ticks = 0

    def see(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        return []

    def tick(self, now: float) -> list[Finding]:
        self.ticks += 1
        if self.ticks == 1:
            raise RuntimeError("tick bug")
        return []


async def test_a_monitors_task_whose_rule_tick_raises_is_restarted_recorded_and_goes_on(tmp_path: Path) -> None:
    clock = FakeClock()
    async with run_context(tmp_path, monitored_config(), clock=clock) as ctx:
        runner = MonitorRunner(ctx, tick_s=60)
        runner.build()
        broken = _TickFailsOnce(MonitorConfig(rule="idle"), runner.env)
        runner.add(broken)
        task = ctx.tasks.start("monitors", runner.run, Restart(backoff_s=5, max_restarts=3))
        try:
            await asyncio.wait_for(runner.listening.wait(), 10)
            await eventually(lambda: clock.sleepers == 1, what="the monitors to wait for their tick")
            clock.advance(60)
            await eventually(lambda: ctx.tasks.failures.get("monitors") == 1, what="the tick's failure")
            # Down for its backoff, the runner still hears the stream: five identical calls trip the loops rule.
            for step in range(1, 6):
                ctx.store.emit("agent-2", _ls(step))
            assert not runner.caught_up, "a finding heard while the task was down waits to be acted on"
            await eventually(lambda: clock.sleepers == 1, what="the supervisor to wait out its backoff")
            clock.advance(5)
            await eventually(lambda: ctx.tasks.starts.get("monitors") == 2, what="the monitors to start again")
            await settled(runner)
            [decision] = await decisions(ctx)
            assert (decision.agent, decision.payload.rule) == ("agent-2", "loops")
            # Still monitoring after the restart: the next tick is asked, and is fine.
            await eventually(lambda: clock.sleepers == 1, what="the restarted monitors to wait for their tick")
            clock.advance(60)
            await eventually(lambda: broken.ticks == 2, what="the second tick")
            [error] = await events(ctx.store, ErrorRaised)
            assert error.payload.where == "monitors"
            assert error.payload.message == "task monitors failed: RuntimeError: tick bug; restarting in 5s"
            await catch_up(ctx.store)
            items = [i for i in await ctx.store.inbox() if i.kind == "error"]
            assert [(i.source_event, i.summary) for i in items] == [(error.id, f"{error.payload.message} (monitors)")]
            assert not ctx.tasks.crashed.is_set()
        finally:
            task.cancel()
            await asyncio.wait({task})


class _Slow(Rule):
    """A rule that judges ``tool.call`` through the queue and holds each judgement until released."""

    kinds = frozenset({"tool.call"})

    def __init__(self, config: MonitorConfig, env: MonitorEnv) -> None:
        super().__init__(config, env)
        self.judging = asyncio.Event()
        self.release = asyncio.Event()

    async def observe(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        if replay:
            return []
        self.judging.set()
        await self.release.wait()
        return []


def caught_up(runner: MonitorRunner) -> bool:
    """Read afresh: mypy would keep the property narrowed by the assert before the event."""
    return runner.caught_up


async def test_caught_up_is_false_while_an_item_is_being_judged(tmp_path: Path) -> None:
    async with run_context(tmp_path, monitored_config(), clock=FakeClock()) as ctx:
        runner = MonitorRunner(ctx, tick_s=3600)
        slow = _Slow(MonitorConfig(rule="loops"), runner.env)
        runner.add(slow)
        task = asyncio.create_task(runner.run())
        try:
            await asyncio.wait_for(runner.listening.wait(), 10)
            assert runner.caught_up
            ctx.store.emit("agent-1", _ls(1))
            await asyncio.wait_for(slow.judging.wait(), 10)
            assert not caught_up(runner), "and is still being judged"
            slow.release.set()
            await settled(runner)
        finally:
            task.cancel()
            await asyncio.wait({task})
