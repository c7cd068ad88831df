"""The daemon's side of a synthetic run, for key tests: its real command poller, on its own connection.

What the keys write is applied by ``agents.control.CommandPoller`` (the code the daemon runs) to an
``AgentControl`` per agent, with a ``BudgetDesk`` for budget changes; the effect it records (the command
marked, a ``command.applied`` event) reaches the TUI through the same SQLite file. No agent loop runs,
so the test reads what a loop would act on from the controls themselves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aar.config import BudgetConfig
from aar.events import ApprovalRequested
from aar.runtime import RunPaths
from aar.store import CommandRow, RunStore
from agents.agent_state import AgentControl, Decision
from agents.budget_desk import BudgetDesk
from agents.control import CommandPoller
from tests.support import eventually

BUDGET = BudgetConfig(dollars=5.0)
"""Every agent's configured budget, so a budget key has something to raise, lower or move."""


@dataclass
class Daemon:
    store: RunStore
    controls: dict[str, AgentControl]
    poller: CommandPoller
    run_stop: asyncio.Event
    approvals: dict[str, asyncio.Task[Decision]] = field(default_factory=dict)
    """Per waiting tool call (the run's ``approval.requested`` events): the agent's wait for approve / deny."""
    interrupted: list[str] = field(default_factory=list)
    """Agents whose running sandbox command an interrupt or a stop killed."""

    async def sent(self) -> CommandRow:
        """The one command the keys wrote, once it is in the store (still pending)."""
        [command] = await eventually(self.store.pending_commands, what="the key's command in the store")
        return command

    async def apply(self) -> CommandRow:
        """Apply the one pending command with the daemon's poller; the row as it was sent."""
        command = await self.sent()
        assert await self.poller.poll_once() == 1
        await self.store.flush()
        return command

    async def effect(self, command_id: int) -> tuple[str, str]:
        """The status and effect the poller recorded for ``command_id``."""
        [row] = [c for c in await self.store.commands() if c.id == command_id]
        return row.status, row.effect


@asynccontextmanager
async def daemon_of(run: RunPaths) -> AsyncIterator[Daemon]:
    async with await RunStore.open(run.db) as store:
        agents = await store.agents()
        controls = {a.name: AgentControl(a.name, approval=a.approval) for a in agents}
        desk = BudgetDesk(store, {a.name: BUDGET for a in agents}, dollar_cap=25.0)
        run_stop = asyncio.Event()
        daemon = Daemon(store, controls, CommandPoller(store, controls, run_stop, budgets=desk), run_stop)
        for control in controls.values():
            control.bind_sandbox(_killer(daemon, control.name))
        for row in await store.events_after(0, limit=100_000, kinds=["approval.requested"]):
            request = row.payload
            if row.agent is not None and isinstance(request, ApprovalRequested):
                wait = controls[row.agent].wait_approval(request.call_id)
                daemon.approvals[request.call_id] = asyncio.ensure_future(wait)
        await eventually(
            lambda: sum(len(c.waiting_calls) for c in controls.values()) == len(daemon.approvals),
            what="the agents to wait for approval",
        )
        try:
            yield daemon
        finally:
            for task in daemon.approvals.values():
                task.cancel()


def _killer(daemon: Daemon, agent: str) -> Callable[[], Awaitable[bool]]:
    async def kill() -> bool:
        daemon.interrupted.append(agent)
        return True

    return kill
