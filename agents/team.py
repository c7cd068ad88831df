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
from aar.commands import ALL_AGENTS, Branch
from aar.config import ResolvedAgent, RunConfig
from aar.devices import sandbox_config_for
from aar.events import ApprovalRequested, ErrorRaised, SupervisorAsked, ToolCalled, ToolReturned, Unreadable
from aar.runtime import RunContext
from aar.store import RunStore
from aar.store.branch_table import BranchRow
from aar.store.rows import AgentRow, CommandRow
from aar.tasks import Restart, describe
from agents.agent_state import AgentControl, Redirect, answer_text
from agents.backend import ModelBackend
from agents.branching import Brancher, BranchRefused, branch_agent
from agents.budget import BudgetGuard
from agents.budget_desk import BudgetDesk
from agents.control import STOP_META, CommandPoller
from agents.disk_guard import DiskGuard
from agents.loop import AgentLoop
from agents.prompts import system_prompt
from agents.sandbox_slot import SandboxSlot
from agents.snapshot_keeper import SnapshotKeeper
from agents.tools import default_toolbox
from agents.transcript import tool_call_ids
from sandbox.hosts import HostPool

log = logging.getLogger("aar.agents.team")

STOP_GRACE_S = 30.0
"""How long agents get to end their step in flight after a stop before they are cancelled."""
DONE = ("finished", "out_of_budget")
POLLER_POLICY = Restart(backoff_s=0.2, max_backoff_s=5.0, max_restarts=10)
"""The command poller starts again from the first command not yet applied: a failed poll is retried."""
GUARD_POLICY = Restart(backoff_s=1.0, max_restarts=5)
"""The disk guard keeps which agents it paused across a restart."""
INTERRUPTED_APPROVAL = "not run: the daemon stopped while this call waited for approval; the step runs again"

BackendFactory = Callable[[str, RunConfig, RunStore], ModelBackend]
"""(backend kind, config, store) -> backend; tests pass their own to wrap or record calls."""


def make_backend(kind: str, config: RunConfig, store: RunStore) -> ModelBackend:
    """The backend of one kind for a run (the Anthropic SDK is only imported when a Claude agent runs)."""
    if kind == "anthropic":
        from agents.anthropic_backend import AnthropicBackend

        return AnthropicBackend.from_config(config, store=store)
    from agents.scripted import ScriptedBackend
    from agents.scripted.options import ScriptedOptions

    misbehaving = frozenset(ScriptedOptions.of(config).misbehaving)
    return ScriptedBackend(pace_s=config.team.pace_s, misbehaving=misbehaving)


async def _has_work(store: RunStore, row: AgentRow) -> bool:
    if row.status in DONE:
        return False
    if row.status == "stopped":
        return await store.get_meta(STOP_META.format(agent=row.name)) != "supervisor"
    return True


def _unread_redirects(commands: list[CommandRow], agent: str, *, after: int = 0) -> list[Redirect]:
    """Redirects and answers applied to ``agent`` by an earlier daemon; the loop drops those its ``deliveries``
    rows say it has read. ``after``: a branch's command, so the broadcasts before it are not the branch's."""
    out = []
    for c in commands:
        if c.status != "applied" or c.target not in (agent, ALL_AGENTS) or c.id <= after:
            continue
        if isinstance(c.command, commands_.Redirect):
            out.append(Redirect(c.id, c.command.text))
        elif isinstance(c.command, commands_.Answer) and c.target == agent:
            out.append(Redirect(c.id, answer_text(c.command.call_id, c.command.text)))
    return out


async def _open_question(store: RunStore, agent: str, commands: list[CommandRow]) -> SupervisorAsked | None:
    """The question ``agent`` still waits on (asked in a committed step, neither answered nor waived by a resume
    since), so a resumed agent keeps waiting for it. An unreadable ``agent.ask`` event is logged and skipped."""
    asks: list[tuple[float, SupervisorAsked]] = []
    for row in await store.events_after(0, agent=agent, kinds=["agent.ask"], limit=1_000_000):
        match row.payload:
            case SupervisorAsked() as asked:
                asks.append((row.ts, asked))
            case Unreadable() as unreadable:
                log.warning("resume of %s: skipped %s", agent, unreadable.describe(row.id))
    if not asks:
        return None
    ts, ask = asks[-1]
    if not ask.call_id:
        return None
    for c in commands:
        if c.target != agent or c.status != "applied" or (c.applied_ts or 0) < ts:
            continue
        if isinstance(c.command, commands_.Resume):
            return None
        if isinstance(c.command, commands_.Answer) and c.command.call_id == ask.call_id:
            return None
    return ask if ask.call_id in tool_call_ids(await store.transcript(agent)) else None


async def _settle_approvals(store: RunStore, agent: str) -> None:
    """Tool calls that waited for approval when the previous daemon died (an ``approval.requested`` event with
    no ``tool.result`` of its call id) were never run and their step was never committed: say so, by call id,
    so their inbox items are settled; the step runs again and asks anew. An unreadable event is skipped."""
    kinds = ["tool.call", "approval.requested", "tool.result"]
    called: dict[str, ToolCalled] = {}
    waiting: set[str] = set()
    for row in await store.events_after(0, agent=agent, kinds=kinds, limit=1_000_000):
        match row.payload:
            case ToolCalled() as calling:
                called[calling.call_id] = calling
            case ApprovalRequested() as asked:
                waiting.add(asked.call_id)
            case ToolReturned() as returned:
                waiting.discard(returned.call_id)
            case Unreadable() as unreadable:
                log.warning("resume of %s: skipped %s", agent, unreadable.describe(row.id))
    for call_id in sorted(waiting):
        call = called.get(call_id)
        store.emit(
            agent,
            ToolReturned(
                step=call.step if call else 0,
                call_id=call_id,
                tool=call.tool if call else "",
                ok=False,
                output=INTERRUPTED_APPROVAL,
            ),
        )


async def run_team(ctx: RunContext, *, backend_factory: BackendFactory = make_backend) -> None:
    """Run every agent with work left until all have ended or ``ctx.stop`` is set."""
    config, store = ctx.config, ctx.store
    agents = config.resolved_agents()
    for agent in agents:
        await store.register_agent(agent.name, backend=agent.backend, model=agent.model, direction=agent.direction)
    by_name = {a.name: a for a in agents}
    branched: dict[str, BranchRow] = {}
    """The branches by name: what was applied before a branch's command is not the branch's, and its steps
    count from the step it was branched at."""
    for made in await store.branches():
        if made.parent not in by_name:  # a parent that left the config: its branches cannot be rebuilt
            store.emit(
                made.agent, ErrorRaised(message=f"branch of {made.parent}, which this run no longer has", where="team")
            )
            continue
        by_name[made.agent] = branch_agent(by_name[made.parent], made)
        agents.append(by_name[made.agent])
        branched[made.agent] = made
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
        has_work = await _has_work(store, row)
        if has_work and not fresh:
            await _settle_approvals(store, agent.name)
        asked = await _open_question(store, agent.name, commands) if has_work and not fresh else None
        control = AgentControl(agent.name, approval=approval, paused=row.status == "paused" and asked is None)
        if asked is not None:
            control.ask(asked.call_id)
            if row.status != "paused":  # the run's stop settled the question in the inbox: ask it there again
                store.emit(agent.name, asked)
        controls[agent.name] = control
        if has_work:
            runnable.append(agent)
        else:
            control.ended = True

    backends: dict[str, ModelBackend] = {}
    loops: list[AgentLoop] = []
    revived: asyncio.Queue[AgentLoop] = asyncio.Queue()
    desk = BudgetDesk(store, {a.name: a.budget for a in agents}, dollar_cap=config.run.dollar_cap)
    brancher = Brancher(ctx, desk)
    # The config's agents as its plan says (checked when it loaded); a branch is placed when it first runs.
    hosts = HostPool(config.sandbox, [a.name for a in config.resolved_agents()]) if config.sandbox.hosts else None

    async def start(agent: ResolvedAgent) -> AgentLoop:
        if agent.backend not in backends:
            backends[agent.backend] = backend_factory(agent.backend, config, store)
        made = branched.get(agent.name)
        loop = make_loop(
            ctx,
            agent,
            backends[agent.backend],
            controls[agent.name],
            base_step=made.step if made else 0,
            hosts=hosts,
        )
        commands = await store.commands(limit=1_000_000)
        await loop.load(_unread_redirects(commands, agent.name, after=made.command_id if made else 0))
        return loop

    async def branch(command_id: int, parent: str, command: Branch) -> str:
        """Make the branch ``command`` asks for and start it (a ``branch`` command applied)."""
        if parent not in by_name and await store.agent(parent) is not None:
            # Checked before anything is made: a branch the team could not run would be made again and again.
            raise BranchRefused(f"{parent} is no longer in this run's config, so a branch of it cannot run")
        new = hosts is not None and await store.branch_of_command(command_id) is None
        if new and hosts is not None and (full := hosts.room_problem(f"a branch of {parent}")):
            raise BranchRefused(full)  # in one line now, not at each of its tool calls
        made = await brancher.make(command_id, parent, command)
        effect = f"{made.agent} branched from {parent} after step {made.step} (workspace of step {made.snapshot_step})"
        if made.agent in controls:
            return effect + "; it already runs"
        agent = branch_agent(by_name[parent], made)
        by_name[agent.name], branched[agent.name] = agent, made
        desk.configured[agent.name] = agent.budget
        parent_control = controls.get(parent)
        controls[agent.name] = AgentControl(agent.name, approval=parent_control.approval if parent_control else False)
        await revived.put(await start(agent))
        return effect + "; it goes on"

    async def revive(name: str) -> str:
        """After a budget change: start again an agent that had run out of budget, if it now has room."""
        row = await store.agent(name)
        if row is None or row.status != "out_of_budget" or not controls[name].ended:
            return ""
        guard = make_guard(ctx, by_name[name])
        await guard.load()
        over = await guard.check(row.steps)
        if over is not None:
            return f"; {name} is still out of budget ({over.describe()})"
        controls[name].lift_budget_stop()
        controls[name].ended = False
        loop = await start(by_name[name])
        await loop.going_on("its budget was raised")
        await revived.put(loop)
        return f"; {name} goes on"

    try:
        for agent in runnable:
            loops.append(await start(agent))
        poller = CommandPoller(
            ctx.store,
            controls,
            ctx.stop,
            wake=ctx.commands_waiting,
            budgets=desk,
            revive=revive,
            transfer=ctx.transfer,
            branch=branch,
        )
        # What waits in the queue applies before the team can end for want of work: a branch asked of a run
        # whose agents had all finished starts when it is resumed.
        await poller.poll_once()
        while not revived.empty():
            loops.append(revived.get_nowait())
        await _drive(ctx, loops, controls, poller, revived)
    finally:
        for kind, backend in backends.items():
            try:
                await backend.aclose()
            except Exception as exc:  # the team is ending anyway: say so, and close the others
                log.exception("closing the %s backend failed", kind)
                store.emit(
                    None, ErrorRaised(message=f"closing the {kind} backend failed: {describe(exc)}", where="team")
                )
        await store.flush()


def make_loop(
    ctx: RunContext,
    agent: ResolvedAgent,
    backend: ModelBackend,
    control: AgentControl,
    *,
    base_step: int = 0,
    hosts: HostPool | None = None,
) -> AgentLoop:
    """``base_step``: a branch's, the parent's step it starts after (its steps count from there); ``hosts``: the
    run's placement on ``sandbox.hosts`` (None runs the sandbox on this machine)."""
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
            hosts=hosts,
        ),
        system=system_prompt(agent, config),
        budget=make_guard(ctx, agent),
        max_tokens=config.anthropic.max_tokens,
        base_step=base_step,
        snapshots=SnapshotKeeper(
            ctx.store,
            ctx.paths.root,
            agent.name,
            ctx.paths.workspace(agent.name),
            every_s=config.run.snapshot_every_min * 60,
            budget_mb=config.run.snapshot_budget_mb,
            clock=ctx.clock,
        ),
    )


def make_guard(ctx: RunContext, agent: ResolvedAgent) -> BudgetGuard:
    run = ctx.config.run
    return BudgetGuard(
        ctx.store, agent.name, agent.budget, max_steps=run.max_steps, run_dollar_cap=run.dollar_cap, clock=ctx.clock
    )


async def _drive(
    ctx: RunContext,
    loops: list[AgentLoop],
    controls: dict[str, AgentControl],
    poller: CommandPoller,
    revived: asyncio.Queue[AgentLoop],
) -> None:
    """Run the loops and the poller (and loops revived meanwhile); on ``ctx.stop``, stop the agents and give
    them ``STOP_GRACE_S``."""
    polling = ctx.tasks.start("command-poller", poller.run, POLLER_POLICY)
    guard = DiskGuard(
        ctx.paths.root,
        controls,
        ctx.store,
        reserve_mb=ctx.config.run.disk_reserve_mb,
        signal=ctx.disk,
        clock=ctx.clock,
    )
    guarding = ctx.tasks.start("disk-guard", guard.run, GUARD_POLICY)
    tasks = {asyncio.create_task(loop.run(), name=f"agent:{loop.name}"): loop.name for loop in loops}
    stop = asyncio.create_task(ctx.stop.wait(), name="team-stop")
    more = asyncio.create_task(revived.get(), name="team-revived")
    try:
        pending: set[asyncio.Task[Any]] = set(tasks)
        while pending and not stop.done():
            _, pending = await asyncio.wait(pending | {stop, more}, return_when=asyncio.FIRST_COMPLETED)
            pending -= {stop, more}
            if more.done():
                loop = more.result()
                task = asyncio.create_task(loop.run(), name=f"agent:{loop.name}")
                tasks[task] = loop.name
                pending.add(task)
                more = asyncio.create_task(revived.get(), name="team-revived")
        if pending:
            for control in controls.values():
                if not control.ended:
                    await control.request_stop("run", "the run stopped")
            _, pending = await asyncio.wait(pending, timeout=STOP_GRACE_S)
            for task in pending:
                log.warning("%s did not stop within %.0fs; cancelling it", tasks[task], STOP_GRACE_S)
    finally:
        everything: list[asyncio.Task[Any]] = [*tasks, polling, guarding, stop, more]
        for each in everything:
            each.cancel()
        for each in everything:
            with contextlib.suppress(asyncio.CancelledError):
                await each
