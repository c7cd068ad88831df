"""What a resumed team reads from the records a dead daemon left (rows and events keyed by command id or call
id): the supervisor messages already read, and the tool calls that waited for approval."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aar.commands import Redirect
from aar.events import ApprovalRequested, ToolCalled, ToolReturned
from aar.inbox import catch_up
from aar.runtime import RunContext
from agents.backend import ModelRequest
from agents.team import INTERRUPTED_APPROVAL, run_team
from tests.agents.helpers import Playbook, config, events, factory, run_context, tool, turns_of
from tests.support import eventually

AGENT = "agent-1"


def reader(request: ModelRequest) -> list[dict[str, Any]]:
    return [tool("forum_read", f"read-{turns_of(request)}", limit=1)]


async def _left_by_a_dead_daemon(ctx: RunContext) -> None:
    """agent-1 committed step 1 and died in step 2."""
    store = ctx.store
    await store.register_agent(AGENT, backend="scripted", model="m")
    await store.append_messages(AGENT, 0, [("user", "Start your research.")])
    await store.append_step(AGENT, 1, [("assistant", [tool("forum_read", "read-1")]), ("user", "ok")], steps=1)
    await store.update_agent(AGENT, status="waiting_approval")


async def test_a_tool_call_waiting_for_approval_when_the_daemon_died_is_settled_once(tmp_path: Path) -> None:
    async with run_context(tmp_path, config()) as ctx:
        await _left_by_a_dead_daemon(ctx)
        store = ctx.store
        store.emit(AGENT, ToolCalled(step=1, call_id="read-1", tool="forum_read", input={}))
        store.emit(AGENT, ApprovalRequested(call_id="read-1", tool="forum_read", input={}))
        store.emit(AGENT, ToolReturned(step=1, call_id="read-1", tool="forum_read", ok=True, output="[]"))
        store.emit(AGENT, ToolCalled(step=2, call_id="bash-2", tool="bash", input={"command": "ls"}))
        store.emit(AGENT, ApprovalRequested(call_id="bash-2", tool="bash", input={"command": "ls"}))
        await store.flush()
        await catch_up(store)
        assert [(i.kind, i.call_id) for i in await store.inbox()] == [("approval", "bash-2")]

        for _ in range(2):  # a second resume finds nothing left to settle
            await _resume_for_two_steps(ctx)

        settled = [e.payload for e in await events(store, ToolReturned) if e.payload.call_id == "bash-2"]
        assert settled == [ToolReturned(step=2, call_id="bash-2", tool="bash", ok=False, output=INTERRUPTED_APPROVAL)]
        await catch_up(store)
        assert not [i for i in await store.inbox() if i.kind == "approval"], "the dead call's item is settled"


async def _resume_for_two_steps(ctx: RunContext) -> None:
    backend = Playbook(reader, delay_s=0.01)
    task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
    try:
        await eventually(lambda: len(backend.of(AGENT)) >= 2, what="agent-1 to go on")
    finally:
        ctx.stop.set()
        await asyncio.wait_for(task, 10)
    ctx.stop.clear()


async def test_a_redirect_applied_again_after_a_crash_is_read_once(tmp_path: Path) -> None:
    """The daemon died after the agent read the message but before the command was marked applied: the new
    daemon applies it again, and the agent does not read it twice."""
    async with run_context(tmp_path, config()) as ctx:
        await _left_by_a_dead_daemon(ctx)
        await ctx.store.update_agent(AGENT, status="thinking")
        command = await ctx.store.issue_command(Redirect(text="try filtering"), AGENT)
        message = f"[Supervisor message, command #{command}] try filtering"
        await ctx.store.deliver(AGENT, 1, [{"type": "text", "text": message}], [command])

        backend = Playbook(reader, delay_s=0.01)
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        try:
            await eventually(lambda: len(backend.of(AGENT)) >= 3, what="agent-1 to take three more steps")
            (row,) = await ctx.store.commands()
            assert row.status == "applied"
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 10)
        last = backend.of(AGENT)[-1].messages
        read = [b for m in last if isinstance(m["content"], list) for b in m["content"] if b.get("text") == message]
        assert len(read) == 1
        assert await ctx.store.delivered(AGENT) == {command}
