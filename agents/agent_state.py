"""One agent's control state: what the supervisor asked of it, as the loop sees it.

The command poller (``agents.commands``) writes here as soon as a command
arrives; the agent loop reads it at its checkpoints (between steps, before
each tool call) and waits on it (paused, waiting for approval). Everything
is in-memory asyncio state; what must survive a crash is in the store (the
agent's status and approval flag, redirects in the commands table).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

StopKind = str
"""Why an agent stops: ``supervisor`` (a stop command), ``run`` (the run winds down) or ``budget``."""


@dataclass(frozen=True)
class Redirect:
    """A supervisor message waiting to be read before the agent's next model call."""

    command_id: int
    text: str

    def message_text(self) -> str:
        """How the agent reads it. Which messages it has read is recorded by command id (``deliveries``),
        never found again in this text."""
        return f"[Supervisor message, command #{self.command_id}] {self.text}"


def answer_text(call_id: str, text: str) -> str:
    """How the supervisor's answer to an ``ask_supervisor`` call reads to the agent."""
    return f"Answer to your question ({call_id}): {text}"


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str = ""


class AgentControl:
    """Pause, stop, redirect, interrupt and approval state of one agent."""

    def __init__(self, name: str, *, approval: bool = False, paused: bool = False) -> None:
        self.name = name
        self.approval = approval
        self.inbox: list[Redirect] = []
        self.stop_kind: StopKind | None = None
        self.stop_reason = ""
        self.pause_reason = ""
        """Why the agent was paused (a monitor's finding); empty when the supervisor paused it."""
        self.ended = False
        """Set by the loop when the agent is done; commands to it are then refused."""
        self.interrupted = asyncio.Event()
        """Set by an interrupt (or a stop); a tool call's waits end on it. Cleared when a tool call starts."""
        self._running = asyncio.Event()
        if not paused:
            self._running.set()
        self._stopping = asyncio.Event()
        self._approvals: dict[str, asyncio.Future[Decision]] = {}
        self._interrupt_sandbox: Callable[[], Awaitable[bool]] | None = None
        self.asking: str | None = None
        """The ``ask_supervisor`` call whose answer the agent waits for, if any."""
        self._answered = asyncio.Event()

    # ------------------------------------------------------------ read by the loop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def wait_running(self) -> bool:
        """Return when the agent is resumed (True) or asked to stop (False)."""
        await _first(self._running.wait(), self._stopping.wait())
        return not self._stopping.is_set()

    async def wait_stopping(self) -> None:
        await self._stopping.wait()

    def take_inbox(self) -> list[Redirect]:
        taken, self.inbox = self.inbox, []
        return taken

    async def wait_answered(self) -> bool:
        """Wait until the question the agent asked is answered (or waived by a resume) or it is asked to stop;
        returns whether it is stopping."""
        await _first(self._answered.wait(), self._stopping.wait())
        return self.stopping

    def ask(self, call_id: str) -> None:
        """The agent asked the supervisor (``call_id``); it waits at its next checkpoint until answered."""
        self.asking = call_id
        self._answered.clear()

    def bind_sandbox(self, interrupt: Callable[[], Awaitable[bool]]) -> None:
        self._interrupt_sandbox = interrupt

    async def wait_approval(self, call_id: str) -> Decision:
        """Wait for approve / deny of ``call_id`` (a stop denies it)."""
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._approvals[call_id] = future
        try:
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                waiters: set[asyncio.Future[Any]] = {future, stop}
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if future.done():
                return future.result()
            return Decision(False, "the agent is stopping")
        finally:
            self._approvals.pop(call_id, None)

    # ------------------------------------------------------------ written by the poller

    def pause(self, reason: str = "") -> str:
        if self.paused:
            return "already paused"
        self.pause_reason = reason
        self._running.clear()
        return "pauses after the step in flight" + (f": {reason}" if reason else "")

    def resume(self) -> str:
        if self.asking is not None:
            self.asking = None
            self._answered.set()
            return "goes on without an answer to its question"
        if not self.paused:
            return "was not paused"
        self._running.set()
        return "resumed"

    def answer(self, command_id: int, call_id: str, text: str) -> str | None:
        """Answer the question ``call_id``; None when the agent is not waiting on that question."""
        if self.asking != call_id:
            return None
        self.inbox.append(Redirect(command_id, answer_text(call_id, text)))
        self.asking = None
        self._answered.set()
        return "reads the answer before its next model call"

    def redirect(self, command_id: int, text: str) -> str:
        self.inbox.append(Redirect(command_id, text))
        return "reads it before its next model call"

    async def interrupt(self) -> str:
        self.interrupted.set()
        killed = await self._interrupt_sandbox() if self._interrupt_sandbox else False
        return "killed the running sandbox command" if killed else "no sandbox command was running"

    async def request_stop(self, kind: StopKind, reason: str) -> str:
        """Stop after the step in flight; a running sandbox command is killed now."""
        if self.stopping:
            return "already stopping"
        self.stop_kind, self.stop_reason = kind, reason
        self._stopping.set()
        self._running.set()  # a paused agent wakes up to stop
        self.interrupted.set()
        killed = await self._interrupt_sandbox() if self._interrupt_sandbox else False
        return "stops after the step in flight" + ("; killed the running sandbox command" if killed else "")

    def lift_budget_stop(self) -> None:
        """The supervisor raised the budget that stopped the agent: it may run again."""
        if self.stop_kind == "budget":
            self.stop_kind, self.stop_reason = None, ""
            self._stopping.clear()
            self.interrupted.clear()

    def set_approval(self, on: bool) -> str:
        if self.approval == on:
            return f"approval mode was already {'on' if on else 'off'}"
        self.approval = on
        if on:
            return "tool calls now wait for approve / deny"
        waiting = list(self._approvals.values())
        for future in waiting:
            if not future.done():
                future.set_result(Decision(True, "approval mode turned off"))
        return "approval mode off" + (f"; released {len(waiting)} waiting tool call(s)" if waiting else "")

    def decide(self, call_id: str, decision: Decision) -> str | None:
        """Answer a waiting tool call; None when no call ``call_id`` waits."""
        future = self._approvals.get(call_id)
        if future is None or future.done():
            return None
        future.set_result(decision)
        return f"{'approved' if decision.approved else 'denied'} {call_id}"

    @property
    def waiting_calls(self) -> list[str]:
        return list(self._approvals)


async def _first(*waits: Awaitable[object]) -> None:
    """Return when the first of ``waits`` completes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
