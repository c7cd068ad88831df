"""Supervisor control: the poller that turns rows of the commands table into effects.

The TUI and ``aar stop`` write commands to the store; this poller (owned by
the team) reads the pending ones every ``interval`` seconds, applies each to
the agents' ``AgentControl`` at once, marks it with its effect and records a
``command.applied`` event, so every command takes effect, visibly, well
within a second. What waits for the step in flight (pause, stop, a redirect
read before the next model call) says so in its effect.

Targets: an agent's name, ``*`` for every running agent, ``@run`` for the
run itself (``stop_run``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Literal

from aar.events import CommandApplied
from aar.store import RunStore
from aar.store.rows import CommandRow
from agents.agent_state import AgentControl, Decision

log = logging.getLogger("aar.agents.control")

POLL_INTERVAL_S = 0.2
ALL = "*"
RUN = "@run"
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
    ) -> None:
        self.store = store
        self.controls = controls
        self.run_stop = run_stop
        self.interval = interval
        self._last_id = 0

    async def run(self) -> None:
        """Poll until cancelled; a failing poll is logged and retried, never fatal to the team."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying supervisor commands failed; retrying")
            await asyncio.sleep(self.interval)

    async def poll_once(self) -> int:
        """Apply every pending command; returns how many."""
        commands = await self.store.pending_commands(after_id=self._last_id)
        for command in commands:
            status: Literal["applied", "rejected"]
            try:
                status, effect = "applied", await self.apply(command)
            except CommandRefused as exc:
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

    async def apply(self, command: CommandRow) -> str:
        """Apply one command; its effect in words. Raises ``CommandRefused``."""
        if command.kind == "stop_run":
            self.run_stop.set()
            return "the run stops after every agent's step in flight"
        if command.target == ALL:
            live = [c for c in self.controls.values() if not c.ended]
            if not live:
                raise CommandRefused("no agent is running")
            effects = []
            for each in live:
                try:
                    effects.append(f"{each.name}: {await self._apply_one(command, each)}")
                except CommandRefused as exc:
                    effects.append(f"{each.name}: {exc}")
            return "; ".join(effects)
        control = self.controls.get(command.target)
        if control is None:
            known = ", ".join(self.controls) or "none"
            raise CommandRefused(f"no agent named {command.target!r} (agents: {known}; use * for all)")
        if control.ended:
            raise CommandRefused(f"{control.name} has already ended; nothing to do")
        return await self._apply_one(command, control)

    async def _apply_one(self, command: CommandRow, control: AgentControl) -> str:
        kind, payload = command.kind, command.payload
        if kind == "pause":
            return control.pause()
        if kind == "resume":
            return control.resume()
        if kind == "redirect":
            text = str(payload.get("text", "")).strip()
            if not text:
                raise CommandRefused('a redirect needs {"text": "..."} with the message for the agent')
            return control.redirect(command.id, text)
        if kind == "interrupt":
            return await control.interrupt()
        if kind in ("approval_on", "approval_off"):
            on = kind == "approval_on"
            switched = control.set_approval(on)
            await self.store.update_agent(control.name, approval=on)
            return switched
        if kind in ("approve", "deny"):
            call_id = str(payload.get("call_id", ""))
            if not call_id:
                raise CommandRefused(f'{kind} needs {{"call_id": "..."}}: the id of the waiting tool call')
            reason = str(payload.get("reason", "")).strip()
            effect = control.decide(call_id, Decision(kind == "approve", reason))
            if effect is None:
                waiting = ", ".join(control.waiting_calls) or "none"
                raise CommandRefused(f"no tool call {call_id} is waiting for approval (waiting: {waiting})")
            return effect
        if kind == "stop":
            await self.store.set_meta(STOP_META.format(agent=control.name), "supervisor")
            return await control.request_stop("supervisor", "stopped by the supervisor")
        raise CommandRefused(f"unknown command {kind!r}")
