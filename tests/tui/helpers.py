"""Reading what is on the screen, and playing the daemon's part for commands."""

from __future__ import annotations

import html
import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.pilot import Pilot

from aar.events import AgentStatus, AgentStatusChanged, CommandApplied, RunStateChanged, ToolReturned
from aar.store import CommandRow, RunStore

_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')
CELL_WIDTH = 12.2
"""Width of one terminal cell in Rich's SVG export."""


def screen_text(app: App[object]) -> str:
    """The terminal as text, line by line, from the same export the snapshots use."""
    rows: dict[float, list[tuple[float, str]]] = defaultdict(list)
    for m in _TEXT.finditer(app.export_screenshot()):
        rows[float(m.group(2))].append((float(m.group(1)), html.unescape(m.group(3))))
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            line = line.ljust(round(x / CELL_WIDTH)) + text
        lines.append(line.replace("\xa0", " "))
    return "\n".join(lines)


async def wait_for(pilot: Pilot[object], check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``check()`` holds; fails with what was on screen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; screen was:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def wait_screen(pilot: Pilot[object], needle: str, timeout: float = 5.0) -> str:
    text = ""

    def shown() -> bool:
        nonlocal text
        text = screen_text(pilot.app)
        return needle in text

    await wait_for(pilot, shown, timeout)
    return text


async def pending(db: Path) -> list[CommandRow]:
    async with await RunStore.open(db) as store:
        return await store.pending_commands()


EFFECTS: dict[str, tuple[AgentStatus | None, str]] = {
    "pause": ("paused", "paused after its step"),
    "resume": ("thinking", "resumed"),
    "stop": ("stopped", "stopped by the supervisor"),
    "interrupt": (None, "killed the running command"),
    "redirect": (None, "message queued for the next model call"),
    "approve": ("running_tool", "tool call approved"),
    "deny": ("thinking", "tool call denied"),
    "approval_on": (None, "approval mode on"),
    "approval_off": (None, "approval mode off"),
    "stop_run": (None, "stopping the run"),
}


async def apply_like_daemon(db: Path) -> list[CommandRow]:
    """Apply every pending command the way the daemon does: agent row, events, command marked applied."""
    async with await RunStore.open(db) as store:
        commands = await store.pending_commands()
        for cmd in commands:
            status, effect = EFFECTS[cmd.kind]
            targets = [a.name for a in await store.agents()] if cmd.target == "*" else [cmd.target]
            for agent in targets if cmd.target != "@run" else []:
                if status is not None:
                    await store.update_agent(agent, status=status)
                    store.emit(agent, AgentStatusChanged(status=status, detail=f"by {cmd.kind}"))
                if cmd.kind.startswith("approval_"):
                    await store.update_agent(agent, approval=cmd.kind == "approval_on")
                if cmd.kind == "deny":  # an approved call reports its result only when it has run, maybe minutes later
                    store.emit(
                        agent,
                        ToolReturned(step=9, call_id=cmd.payload["call_id"], tool="bash", ok=False, output=effect),
                    )
                store.emit(agent, CommandApplied(command_id=cmd.id, command=cmd.kind, target=cmd.target, effect=effect))
            if cmd.kind == "stop_run":
                await store.set_meta("state", "stopping")
                store.emit(None, RunStateChanged(state="stopping", reason="stop requested"))
                store.emit(None, CommandApplied(command_id=cmd.id, command=cmd.kind, target=cmd.target, effect=effect))
            await store.mark_command(cmd.id, effect=effect)
        await store.flush()
        return commands
