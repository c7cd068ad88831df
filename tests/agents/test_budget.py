"""Budgets: tokens, dollars, steps, wall clock per agent, and the run-wide dollar cap."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aar.describe import describe
from aar.events import BudgetExceeded, SandboxOutput
from aar.store import EventRow
from agents.backend import ModelRequest, Usage
from agents.team import run_team
from tests.agents.helpers import Heard, Playbook, config, events, factory, run_context, tool, turns_of
from tests.support import FakeClock, eventually


def reader(request: ModelRequest) -> list[dict[str, Any]]:
    return [tool("forum_read", f"r{turns_of(request)}")]


async def run_until_done(
    tmp_path: Path, backend: Playbook, **sections: Any
) -> tuple[dict[str, Any], list[Heard[BudgetExceeded]]]:
    async with run_context(tmp_path, config(**sections)) as ctx:
        await asyncio.wait_for(run_team(ctx, backend_factory=factory(backend)), 20)
        agents = {a.name: a for a in await ctx.store.agents()}
        exceeded = await events(ctx.store, BudgetExceeded)
        # A resumed run does not run an agent that is out of budget, nor report it twice.
        await run_team(ctx, backend_factory=factory(backend))
        assert len(await events(ctx.store, BudgetExceeded)) == len(exceeded)
    return agents, exceeded


async def test_token_budget(tmp_path: Path) -> None:
    backend = Playbook(reader, usage=Usage(input_tokens=80, output_tokens=10, cache_read_tokens=20))
    agents, exceeded = await run_until_done(tmp_path, backend, team={"budget": {"tokens": 250}})
    assert agents["agent-1"].status == "out_of_budget" and agents["agent-1"].steps == 3
    assert [(e.agent, e.payload) for e in exceeded] == [("agent-1", BudgetExceeded(limit="tokens", used=330, cap=250))]
    assert len(backend.requests) == 3


async def test_dollar_budget(tmp_path: Path) -> None:
    backend = Playbook(reader, cost_usd=0.4)
    agents, exceeded = await run_until_done(tmp_path, backend, team={"budget": {"dollars": 1.0}})
    assert agents["agent-1"].status == "out_of_budget" and agents["agent-1"].steps == 3
    assert exceeded[0].payload.limit == "dollars" and exceeded[0].payload.used == 1.2
    # Where the money went, named in the event and in the inbox line the supervisor reads: each step's cost
    # goes to the tools whose output its model call read (the first read none).
    assert exceeded[0].payload.dearest == "forum_read $0.80 (3 calls), (no tool output) $0.40 (0 calls)"
    said = describe(
        EventRow(id=1, ts=0.0, agent="agent-1", kind="budget.exceeded", payload=exceeded[0].payload), "inbox"
    )
    assert said.text.endswith("; dearest: forum_read $0.80 (3 calls), (no tool output) $0.40 (0 calls)")


async def test_step_limit_finishes_the_agent(tmp_path: Path) -> None:
    agents, exceeded = await run_until_done(tmp_path, Playbook(reader), run={"max_steps": 4})
    assert agents["agent-1"].status == "finished" and agents["agent-1"].steps == 4
    assert exceeded[0].payload.limit == "steps"


async def test_wall_clock_budget_stops_a_long_command(tmp_path: Path, clock: FakeClock) -> None:
    def sleeper(request: ModelRequest) -> list[dict[str, Any]]:
        return [tool("bash", f"s{turns_of(request)}", command="echo started; sleep 30")]

    backend = Playbook(sleeper)
    async with run_context(tmp_path, config(team={"budget": {"wall_clock_s": 0.8}}), clock=clock) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))

        async def sleeping() -> bool:
            return bool(await events(ctx.store, SandboxOutput)) and clock.sleepers > 0

        await eventually(sleeping, what="the long command to run while the wall-clock watchdog waits")
        clock.advance(1.0)  # past the budget: only the watchdog can end the 30 s command now
        await asyncio.wait_for(task, 20)
        agents = {a.name: a for a in await ctx.store.agents()}
        exceeded = await events(ctx.store, BudgetExceeded)
        await run_team(ctx, backend_factory=factory(backend))  # a resumed run does not run it again
        assert len(await events(ctx.store, BudgetExceeded)) == len(exceeded)
    assert agents["agent-1"].status == "out_of_budget" and agents["agent-1"].steps == 1, "the killed step is kept"
    assert [e.payload for e in exceeded] == [BudgetExceeded(limit="wall_clock", used=1.0, cap=0.8)]


async def test_the_run_wide_dollar_cap_stops_every_agent(tmp_path: Path) -> None:
    backend = Playbook(reader, cost_usd=0.5, delay_s=0.01)
    agents, exceeded = await run_until_done(tmp_path, backend, team={"count": 3}, run={"dollar_cap": 2.0})
    assert {a.status for a in agents.values()} == {"out_of_budget"}
    spent = sum(a.cost_usd for a in agents.values())
    assert 2.0 <= spent <= 2.0 + 3 * 0.5, "at most the steps in flight when the cap was reached"
    assert {e.payload.limit for e in exceeded} == {"run_dollars"} and {e.agent for e in exceeded} == set(agents)
