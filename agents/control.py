"""Supervisor control: the poller that turns rows of the commands table into effects.

The TUI and ``aar stop`` write commands to the store; this poller (owned by
the team) reads the pending ones every ``interval`` seconds, applies each to
the agents' ``AgentControl`` at once, marks it with its effect and records a
``command.applied`` event, so every command takes effect, visibly, well
within a second. What waits for the step in flight (pause, stop, a redirect
read before the next model call) says so in its effect.

Targets: an agent's name, ``*`` for every running agent, ``@run`` for the
run itself (``stop_run``, moderation, ``transfer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from aar.commands import (
    ALL_AGENTS,
    Answer,
    ApprovalOff,
    ApprovalOn,
    Approve,
    Branch,
    Budget,
    Command,
    Deny,
    Interrupt,
    Pause,
    PinPost,
    QuarantinePost,
    Redirect,
    RestorePost,
    Resume,
    Stop,
    StopRun,
    TransferMethod,
)
from aar.errors import AarError
from aar.events import CommandApplied
from aar.store import RunStore
from aar.store.rows import CommandRow
from agents.agent_state import AgentControl, Decision
from agents.budget_desk import BudgetDesk, BudgetRefused

log = logging.getLogger("aar.agents.control")

POLL_INTERVAL_S = 0.2
STOP_META = "stopped_by:{agent}"
"""Meta key set when the supervisor stops one agent, so a resumed run keeps it stopped."""


class CommandRefused(Exception):
    """A command that cannot apply (no such agent, no waiting call, no text); the message says why."""


class CommandPoller:
    """Applies supervisor commands to the agents of one team."""

    def __init__(
        self,
        store: RunStore,
        controls: Mapping[str, AgentControl],
        run_stop: asyncio.Event,
        *,
        interval: float = POLL_INTERVAL_S,
        wake: asyncio.Event | None = None,
        budgets: BudgetDesk | None = None,
        revive: Callable[[str], Awaitable[str]] | None = None,
        transfer: Callable[[int], Awaitable[str]] | None = None,
        branch: Callable[[int, str, Branch], Awaitable[str]] | None = None,
    ) -> None:
        self.budgets = budgets
        self.branch = branch
        """Makes and starts a branch: (command id, parent, command) -> its effect; None where the run cannot."""
        self.transfer = transfer
        """Enqueues a method's transfer jobs (``RunContext.transfer``); None where the run cannot."""
        self.revive = revive
        """Called after a budget change to an agent that ran out of budget; starts it again if it now has room
        (returns what to add to the effect)."""
        self.store = store
        self.controls = controls
        self.run_stop = run_stop
        self.interval = interval
        self.wake = wake or asyncio.Event()
        """Set by an in-process writer (a monitor) so its command applies now rather than at the next poll."""
        self._last_id = 0

    async def run(self) -> None:
        """Poll until cancelled. A failing poll raises: the daemon's supervisor records it and runs this again,
        from the first command not yet applied."""
        while True:
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.interval)
            self.wake.clear()

    async def poll_once(self) -> int:
        self.wake.clear()
        """Apply every pending command; returns how many."""
        commands = await self.store.pending_commands(after_id=self._last_id)
        for command in commands:
            status: Literal["applied", "rejected"]
            try:
                status, effect = "applied", await self.apply(command)
            except (CommandRefused, BudgetRefused) as exc:
                status, effect = "rejected", str(exc)
            await self.store.mark_command(command.id, status=status, effect=effect)
            agent = command.target if command.target in self.controls else None
            self.store.emit(
                agent,
                CommandApplied(
                    command_id=command.id, command=command.kind, target=command.target, effect=effect, status=status
                ),
            )
            self._last_id = command.id
        return len(commands)

    async def apply(self, row: CommandRow) -> str:
        """Apply one command; its effect in words. Raises ``CommandRefused``."""
        command = row.command
        if command is None:
            raise CommandRefused(f"not a valid command: {row.problem}")
        if isinstance(command, StopRun):
            self.run_stop.set()
            return "the run stops after every agent's step in flight"
        if isinstance(command, QuarantinePost | RestorePost | PinPost):
            return await self._moderate(command)
        if isinstance(command, TransferMethod):
            if self.transfer is None:
                raise CommandRefused("transfer is not available in this run")
            try:
                return await self.transfer(command.submission_id)
            except AarError as exc:
                raise CommandRefused(str(exc)) from None
        if isinstance(command, Branch):
            if self.branch is None:
                raise CommandRefused("branching is not available in this run")
            if row.target == ALL_AGENTS:
                raise CommandRefused(f"branch names one agent, not {ALL_AGENTS}")
            try:
                return await self.branch(row.id, row.target, command)
            except AarError as exc:
                raise CommandRefused(str(exc)) from None
        if row.target == ALL_AGENTS and isinstance(command, Answer | Budget):
            raise CommandRefused(f"{command.kind} names one agent, not {ALL_AGENTS}")
        if row.target == ALL_AGENTS:
            live = [c for c in self.controls.values() if not c.ended]
            if not live:
                raise CommandRefused("no agent is running")
            effects = []
            for each in live:
                try:
                    effects.append(f"{each.name}: {await self._apply_one(row.id, command, each)}")
                except CommandRefused as exc:
                    effects.append(f"{each.name}: {exc}")
            return "; ".join(effects)
        target = self.controls.get(row.target)
        if target is None:
            known = ", ".join(self.controls) or "none"
            raise CommandRefused(f"no agent named {row.target!r} (agents: {known}; use * for all)")
        if target.ended and not (isinstance(command, Budget) and self.revive is not None):
            raise CommandRefused(f"{target.name} has already ended; nothing to do")
        return await self._apply_one(row.id, command, target)

    async def _moderate(self, command: QuarantinePost | RestorePost | PinPost) -> str:
        post = command.post_id
        match command:
            case QuarantinePost(reason=reason, by=by):
                done = await self.store.moderate_post(post, quarantined=True, reason=reason)
                effect = f"post #{post} withheld from the agents by {by}: {reason}"
            case RestorePost():
                done = await self.store.moderate_post(post, quarantined=False)
                effect = f"post #{post} restored"
            case PinPost(pinned=pinned):
                done = await self.store.pin_post(post, pinned)
                effect = f"post #{post} {'pinned: every agent reads it first' if pinned else 'unpinned'}"
        if not done:
            raise CommandRefused(f"there is no post #{post}")
        return effect

    async def _apply_one(self, command_id: int, command: Command, control: AgentControl) -> str:
        match command:
            case Answer(call_id=call_id, text=text):
                effect = control.answer(command_id, call_id, text)
                if effect is None:
                    asking = control.asking or "none"
                    raise CommandRefused(f"{control.name} is not waiting on question {call_id} (waiting on: {asking})")
                return effect
            case Budget():
                if self.budgets is None:
                    raise CommandRefused("budget changes are not available in this run")
                effect = await self.budgets.apply(command_id, command, control.name)
                if control.ended and self.revive is not None:
                    effect += await self.revive(control.name)
                return effect
            case Pause(reason=reason):
                return control.pause(reason)
            case Resume():
                return control.resume()
            case Redirect(text=text):
                return control.redirect(command_id, text)
            case Interrupt():
                return await control.interrupt()
            case ApprovalOn() | ApprovalOff():
                on = isinstance(command, ApprovalOn)
                approval = control.set_approval(on)
                await self.store.update_agent(control.name, approval=on)
                return approval
            case Approve(call_id=call_id) | Deny(call_id=call_id):
                reason = command.reason.strip() if isinstance(command, Deny) else ""
                effect = control.decide(call_id, Decision(isinstance(command, Approve), reason))
                if effect is None:
                    waiting = ", ".join(control.waiting_calls) or "none"
                    raise CommandRefused(f"no tool call {call_id} is waiting for approval (waiting: {waiting})")
                return effect
            case Stop(reason=reason):
                await self.store.set_meta(STOP_META.format(agent=control.name), "supervisor")
                return await control.request_stop("supervisor", reason or "stopped by the supervisor")
            case StopRun() | QuarantinePost() | RestorePost() | PinPost() | TransferMethod():
                raise CommandRefused(f"{command.kind} targets the run, not an agent")
            case Branch():
                raise CommandRefused("branch is made by the team, not applied to a running agent")
