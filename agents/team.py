"""The team: every agent of a run, each its own task, plus the supervisor-command poller.

``run_team(ctx)`` is what the daemon runs beside the evaluator service. It
registers the agents, builds their backends (one shared client per kind),
starts one loop per agent that has work left and the command poller, and
returns when every agent has ended or ``ctx.stop`` is set. On a stop each
agent finishes the step in flight (its sandbox command is killed at once,
a model call in flight is dropped and sent again on resume), so nothing
committed is lost; an agent that does not end within ``STOP_GRACE_S`` is
cancelled.

Resume: an agent that finished (or ran out of budget, or was stopped by the
supervisor) stays so; any other continues from its transcript, paused if it
was paused, in approval mode if it was, with supervisor messages it had not
yet read delivered first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aar.commands as commands_
from aar.commands import ALL_AGENTS
from aar.config import ResolvedAgent, RunConfig
from aar.devices import sandbox_config_for
from aar.runtime import RunContext
from aar.store import RunStore
from aar.store.rows import AgentRow, CommandRow
from agents.agent_state import AgentControl, Redirect
from agents.backend import ModelBackend
from agents.budget import BudgetGuard
from agents.claude.prompts import system_prompt
from agents.control import STOP_META, CommandPoller
from agents.loop import AgentLoop
from agents.sandbox_slot import SandboxSlot
from agents.tools import default_toolbox

log = logging.getLogger("aar.agents.team")

STOP_GRACE_S = 30.0
"""How long agents get to end their step in flight after a stop before they are cancelled."""
DONE = ("finished", "out_of_budget")

BackendFactory = Callable[[str, RunConfig, RunStore], ModelBackend]
"""(backend kind, config, store) -> backend; tests pass their own to wrap or record calls."""


def make_backend(kind: str, config: RunConfig, store: RunStore) -> ModelBackend:
    """The backend of one kind for a run (the Anthropic SDK is only imported when a Claude agent runs)."""
    if kind == "anthropic":
        from agents.anthropic_backend import AnthropicBackend

        return AnthropicBackend.from_config(config, store=store)
    from agents.scripted import ScriptedBackend

    return ScriptedBackend(pace_s=config.team.pace_s, misbehaving=frozenset(config.scripted.misbehaving))


async def _has_work(store: RunStore, row: AgentRow) -> bool:
    if row.status in DONE:
        return False
    if row.status == "stopped":
        return await store.get_meta(STOP_META.format(agent=row.name)) != "supervisor"
    return True


def _unread_redirects(commands: list[CommandRow], agent: str) -> list[Redirect]:
    """Redirects applied to ``agent`` by an earlier daemon; the loop drops those its transcript holds."""
    return [
        Redirect(c.id, c.command.text)
        for c in commands
        if isinstance(c.command, commands_.Redirect) and c.status == "applied" and c.target in (agent, ALL_AGENTS)
    ]


async def run_team(ctx: RunContext, *, backend_factory: BackendFactory = make_backend) -> None:
    """Run every agent with work left until all have ended or ``ctx.stop`` is set."""
    config, store = ctx.config, ctx.store
    agents = config.resolved_agents()
    for agent in agents:
        await store.register_agent(agent.name, backend=agent.backend, model=agent.model, direction=agent.direction)
    rows = {r.name: r for r in await store.agents()}
    commands = await store.commands(limit=1_000_000)
    controls: dict[str, AgentControl] = {}
    runnable: list[ResolvedAgent] = []
    for agent in agents:
        row = rows[agent.name]
        fresh = row.steps == 0 and row.status == "idle"
        approval = config.team.approval if fresh else row.approval
        if fresh and approval:
            await store.update_agent(agent.name, approval=True)
        control = AgentControl(agent.name, approval=approval, paused=row.status == "paused")
        controls[agent.name] = control
        if await _has_work(store, row):
            runnable.append(agent)
        else:
            control.ended = True

    backends: dict[str, ModelBackend] = {}
    loops: list[AgentLoop] = []
    try:
        for agent in runnable:
            if agent.backend not in backends:
                backends[agent.backend] = backend_factory(agent.backend, config, store)
            loop = make_loop(ctx, agent, backends[agent.backend], controls[agent.name])
            await loop.load(_unread_redirects(commands, agent.name))
            loops.append(loop)
        await _drive(ctx, loops, controls)
    finally:
        for backend in backends.values():
            with contextlib.suppress(Exception):
                await backend.aclose()
        await store.flush()


def make_loop(ctx: RunContext, agent: ResolvedAgent, backend: ModelBackend, control: AgentControl) -> AgentLoop:
    config = ctx.config
    return AgentLoop(
        ctx,
        agent,
        backend=backend,
        toolbox=default_toolbox(),
        control=control,
        sandbox=SandboxSlot(
            sandbox_config_for(config, agent.name),
            store=ctx.store,
            agent=agent.name,
            run_id=ctx.run_id,
            workspace=ctx.paths.workspace(agent.name),
        ),
        system=system_prompt(agent, config),
        budget=BudgetGuard(
            ctx.store, agent.name, agent.budget, max_steps=config.run.max_steps, run_dollar_cap=config.run.dollar_cap
        ),
        max_tokens=config.anthropic.max_tokens,
    )


async def _drive(ctx: RunContext, loops: list[AgentLoop], controls: dict[str, AgentControl]) -> None:
    """Run the loops and the poller; on ``ctx.stop``, stop the agents and give them ``STOP_GRACE_S``."""
    poller = asyncio.create_task(
        CommandPoller(ctx.store, controls, ctx.stop, wake=ctx.commands_waiting).run(), name="command-poller"
    )
    tasks = {asyncio.create_task(loop.run(), name=f"agent:{loop.name}"): loop.name for loop in loops}
    stop = asyncio.create_task(ctx.stop.wait(), name="team-stop")
    try:
        pending: set[asyncio.Task[Any]] = set(tasks)
        while pending and not stop.done():
            _, pending = await asyncio.wait(pending | {stop}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stop)
        if pending:
            for control in controls.values():
                if not control.ended:
                    await control.request_stop("run", "the run stopped")
            _, pending = await asyncio.wait(pending, timeout=STOP_GRACE_S)
            for task in pending:
                log.warning("%s did not stop within %.0fs; cancelling it", tasks[task], STOP_GRACE_S)
    finally:
        for task in (*tasks, poller, stop):
            task.cancel()
        for task in (*tasks, poller, stop):
            with contextlib.suppress(asyncio.CancelledError):
                await task
