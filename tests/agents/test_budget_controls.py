"""The supervisor's budget changes while the run goes on (raise, lower, move, from the pool), the 80% warning,
and exactly-once application: a command whose daemon died before applying it is applied once by the next."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aar.commands import Budget, Resume
from aar.config import AgentConfig, BudgetConfig
from aar.events import BudgetChanged, BudgetExceeded, BudgetWarned, CommandApplied
from aar_app.report import build_report, render_markdown
from agents.backend import ModelRequest
from agents.budget_desk import BudgetDesk, BudgetRefused
from agents.team import run_team
from tests.agents.helpers import Playbook, config, events, factory, run_context, tool, turns_of
from tests.support import eventually


def reader(request: ModelRequest) -> list[dict[str, Any]]:
    return [tool("forum_read", f"{request.agent}-r{turns_of(request)}", limit=1)]


async def _effect(ctx: Any, command_id: int) -> tuple[str, str]:
    """The outcome the daemon reported (``command.applied``), which the commands table holds too."""

    async def done() -> Any:
        return next((e for e in await events(ctx.store, CommandApplied) if e.payload.command_id == command_id), None)

    event = await eventually(done, what=f"command {command_id} to be applied")
    row = next(c for c in await ctx.store.commands() if c.id == command_id)
    assert (row.status, row.effect) == (event.payload.status, event.payload.effect)
    return row.status, row.effect


async def test_raising_a_dollar_budget_lets_the_agent_spend_more(tmp_path: Path) -> None:
    backend = Playbook(reader, cost_usd=0.25, delay_s=0.05)
    cfg = config(team={"count": 1, "budget": {"dollars": 1.0}})
    async with run_context(tmp_path, cfg) as ctx:
        await ctx.store.register_agent("agent-1", backend="scripted", model="m")
        cid = await ctx.store.issue_command(Budget(resource="dollars", amount=0.5), "agent-1")
        await asyncio.wait_for(run_team(ctx, backend_factory=factory(backend)), 10)
        assert await _effect(ctx, cid) == ("applied", "dollars budget raised $1.00 → $1.50")
        agent = await ctx.store.agent("agent-1")
        assert agent is not None and agent.status == "out_of_budget"
        assert agent.cost_usd == 1.5 and agent.steps == 6, "six steps of $0.25 under the raised budget"
        changed = await events(ctx.store, BudgetChanged)
        assert [(e.agent, e.payload.delta, e.payload.budget) for e in changed] == [("agent-1", 0.5, 1.5)]
        warnings = [(e.payload.used, e.payload.cap) for e in await events(ctx.store, BudgetWarned)]
        assert warnings == [(1.25, 1.5)], "warned once, at 80% of the budget in force"
        exceeded = await events(ctx.store, BudgetExceeded)
        assert [(e.payload.used, e.payload.cap) for e in exceeded] == [(1.5, 1.5)]


async def test_raise_lower_move_and_pool_checked_and_applied_once(tmp_path: Path) -> None:
    cfg = config(run={"dollar_cap": 10.0}).model_copy(
        update={
            "agents": [
                AgentConfig(name="ann", budget=BudgetConfig(dollars=2.0, tokens=1000)),
                AgentConfig(name="bob", budget=BudgetConfig(dollars=3.0)),
                AgentConfig(name="cy"),
            ]
        }
    )
    async with run_context(tmp_path, cfg) as ctx:
        store = ctx.store
        for a in cfg.resolved_agents():
            await store.register_agent(a.name, backend="scripted", model="m")
        desk = BudgetDesk(store, {a.name: a.budget for a in cfg.resolved_agents()}, dollar_cap=10.0)

        async def apply(target: str, **fields: Any) -> str:
            command = Budget(**fields)
            cid = await store.issue_command(command, target)
            return await desk.apply(cid, command, target)

        assert await desk.pool_left() == 5.0
        assert await apply("ann", resource="dollars", amount=1.5, source="pool") == (
            "dollars budget raised $2.00 → $3.50 from the pool"
        )
        assert await desk.pool_left() == 3.5
        assert await apply("bob", resource="dollars", amount=1.0, source="ann") == (
            "dollars budget raised $3.00 → $4.00 from ann"
        )
        assert (await desk.budget_of("ann")).dollars == 2.5
        assert await apply("ann", resource="tokens", amount=-400) == "tokens budget lowered 1,000 tokens → 600 tokens"
        refusals = [
            (dict(resource="dollars", amount=4.0, source="pool"), "ann", "the pool has $3.50 left"),
            (dict(resource="tokens", amount=5.0, source="pool"), "ann", "the pool holds dollars only"),
            (dict(resource="dollars", amount=-9.0), "ann", "would leave none"),
            (dict(resource="dollars", amount=1.0), "cy", "no dollars budget (0 means unlimited)"),
            (dict(resource="dollars", amount=3.0, source="ann"), "bob", "would leave it none"),
            (dict(resource="dollars", amount=1.0, source="dan"), "bob", "no agent named 'dan'"),
            (dict(resource="dollars", amount=1.0, source="bob"), "bob", "to itself"),
        ]
        for fields, target, why in refusals:
            try:
                await apply(target, **fields)
            except BudgetRefused as exc:
                assert why in str(exc), (fields, str(exc))
            else:
                raise AssertionError(f"{fields} to {target} should be refused")
        changes = await store.budget_changes()
        assert [(c.agent, c.resource, c.delta, c.source) for c in changes] == [
            ("ann", "dollars", 1.5, "pool"),
            ("bob", "dollars", 1.0, "ann"),
            ("ann", "dollars", -1.0, "bob"),
            ("ann", "tokens", -400.0, ""),
        ]
        # Applying an applied command again (a second poller, a replay) changes nothing.
        first = changes[0].command_id
        assert (
            await desk.apply(first, Budget(resource="dollars", amount=1.5, source="pool"), "ann") == "already applied"
        )
        assert len(await store.budget_changes()) == 4


@pytest.mark.slow
async def test_a_budget_command_left_pending_by_a_dead_daemon_applies_once_on_resume(tmp_path: Path) -> None:
    backend = Playbook(reader, delay_s=0.05)
    cfg = config(team={"count": 1, "budget": {"tokens": 100_000}})
    async with run_context(tmp_path, cfg) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        await eventually(lambda: len(backend.of("agent-1")) >= 2)
        ctx.stop.set()
        await asyncio.wait_for(task, 10)
        # Written while no daemon runs (as after a kill -9 between the command and its apply).
        cid = await ctx.store.issue_command(Budget(resource="tokens", amount=5000), "agent-1")
        for _ in range(2):  # two daemons in a row: the first applies it, the second must not again
            ctx.stop.clear()
            task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
            # A command written after the start applies after the pending one (in order): by then this
            # daemon has done whatever it would do with the budget command.
            marker = await ctx.store.issue_command(Resume(), "agent-1")
            await _effect(ctx, marker)
            ctx.stop.set()
            await asyncio.wait_for(task, 10)
        assert await _effect(ctx, cid) == ("applied", "tokens budget raised 100,000 tokens → 105,000 tokens")
        assert [(c.command_id, c.delta) for c in await ctx.store.budget_changes()] == [(cid, 5000.0)]
        applied = [e for e in await events(ctx.store, CommandApplied) if e.payload.command_id == cid]
        assert len(applied) == 1


async def test_raising_the_budget_of_an_agent_that_ran_out_starts_it_again(tmp_path: Path) -> None:
    backend = Playbook(reader, cost_usd=0.25, delay_s=0.02)
    cfg = config().model_copy(
        update={"agents": [AgentConfig(name="ann", budget=BudgetConfig(dollars=0.5)), AgentConfig(name="bob")]}
    )
    async with run_context(tmp_path, cfg) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        try:

            async def out(name: str) -> bool:
                row = await ctx.store.agent(name)
                return row is not None and row.status == "out_of_budget"

            await eventually(lambda: out("ann"))
            lower = await ctx.store.issue_command(Budget(resource="dollars", amount=-0.25), "ann")
            assert await _effect(ctx, lower) == (
                "applied",
                "dollars budget lowered $0.50 → $0.25; ann is still out of budget (dollar budget reached: 0.5 of 0.25)",
            )
            raised = await ctx.store.issue_command(Budget(resource="dollars", amount=0.75), "ann")
            assert await _effect(ctx, raised) == ("applied", "dollars budget raised $0.25 → $1.00; ann goes on")
            await eventually(lambda: out("ann"))
            ann = await ctx.store.agent("ann")
            assert ann is not None and ann.steps == 4 and ann.cost_usd == 1.0
            exceeded = [e.payload.cap for e in await events(ctx.store, BudgetExceeded, agent="ann")]
            assert exceeded == [0.5, 1.0], "each overrun is reported once"
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 10)
