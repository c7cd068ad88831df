"""Supervisor commands through the commands table: each one's effect, on record.

How fast they apply (the design's budget: within a second) is measured in ``bench/agents.py --commands``;
here, what a held agent must not do is checked against what another agent did meanwhile, not a clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from aar.commands import (
    ApprovalOff,
    ApprovalOn,
    Approve,
    Command,
    Deny,
    Interrupt,
    InvalidCommand,
    Pause,
    Redirect,
    Resume,
    Stop,
    StopRun,
    parse_command,
)
from aar.events import (
    ApprovalRequested,
    CommandApplied,
    SandboxExited,
    SandboxLifecycle,
    SandboxOutput,
    ToolCalled,
    ToolReturned,
)
from aar.runtime import RunContext
from agents.backend import ModelRequest
from agents.team import run_team
from tests.agents.helpers import Playbook, config, events, factory, last_results, run_context, text, tool, turns_of
from tests.support import eventually, found


def busy(request: ModelRequest) -> list[dict[str, Any]]:
    """Agent-1 sleeps in its sandbox on its second turn; otherwise both read the forum, forever."""
    n = turns_of(request)
    if request.agent == "agent-1" and n == 1:
        return [text("A long command."), tool("bash", f"sleep-{n}", command="echo started; sleep 30")]
    return [tool("forum_read", f"{request.agent}-read-{n}", limit=1)]


@asynccontextmanager
async def team(tmp_path: Path, **sections: Any) -> AsyncIterator[tuple[RunContext, Playbook, asyncio.Task[None]]]:
    backend = Playbook(busy, delay_s=0.02)
    async with run_context(tmp_path, config(team={"count": 2}, **sections)) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        try:
            yield ctx, backend, task
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 10)


async def command(ctx: RunContext, command: Command, target: str) -> tuple[int, float]:
    issued = time.time()
    return await ctx.store.issue_command(command, target), issued


async def applied(ctx: RunContext, command_id: int) -> dict[str, Any]:
    """The command.applied event of ``command_id``, once it is there."""

    async def find() -> Any:
        return next((e for e in await events(ctx.store, CommandApplied) if e.payload.command_id == command_id), None)

    event = await eventually(find, what=f"command {command_id} to be applied")
    row = next(c for c in await ctx.store.commands() if c.id == command_id)
    assert row.applied_ts is not None
    assert event.payload.status == row.status, "the event and the commands table agree on the outcome"
    return {"status": row.status, "effect": row.effect, "target": event.payload.target}


async def status_of(ctx: RunContext, agent: str) -> str:
    row = await ctx.store.agent(agent)
    return row.status if row else ""


async def has_status(ctx: RunContext, agent: str, status: str) -> bool:
    return await status_of(ctx, agent) == status


async def meanwhile(ctx: RunContext, backend: Playbook, calls: int = 3) -> None:
    """The window in which a held agent must do nothing: agent-1's long command is interrupted, and
    agent-1 makes ``calls`` more model calls (a held agent that slipped would have made one by then)."""
    await eventually(lambda: _started(ctx), what="agent-1's long command to run")
    before = len(backend.of("agent-1"))
    cid, _ = await command(ctx, Interrupt(), "agent-1")
    assert (await applied(ctx, cid))["effect"] == "killed the running sandbox command"
    await eventually(lambda: len(backend.of("agent-1")) >= before + calls, what=f"agent-1 to make {calls} calls")


async def test_pause_holds_an_agent_after_its_step_and_resume_lets_it_go(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, backend, _):
        await eventually(lambda: len(backend.of("agent-2")) >= 3)
        cid, _ = await command(ctx, Pause(), "agent-2")
        assert (await applied(ctx, cid))["effect"] == "pauses after the step in flight"
        await eventually(lambda: has_status(ctx, "agent-2", "paused"))
        held = len(backend.of("agent-2"))
        await meanwhile(ctx, backend)
        assert len(backend.of("agent-2")) == held, "a paused agent makes no model call"
        cid, _ = await command(ctx, Resume(), "agent-2")
        assert (await applied(ctx, cid))["effect"] == "resumed"
        await eventually(lambda: len(backend.of("agent-2")) > held)


async def test_redirect_and_broadcast_reach_the_next_model_call(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, backend, _):
        await eventually(lambda: len(backend.of("agent-2")) >= 2)
        cid, _ = await command(ctx, Redirect(text="Try bootstrapping next."), "agent-2")
        assert (await applied(ctx, cid))["effect"] == "reads it before its next model call"
        marker = f"[Supervisor message, command #{cid}] Try bootstrapping next."

        def got(agent: str, mark: str) -> Any:
            return next((r for r in backend.of(agent) if mark in str(r.messages[-1]["content"])), None)

        request = await eventually(lambda: got("agent-2", marker))
        last = request.messages[-1]["content"]
        assert last[0]["type"] == "tool_result" and last[-1] == {"type": "text", "text": marker}, (
            "merged after the tool results"
        )
        bid, _ = await command(ctx, Redirect(text="Everyone: post your results."), "*")
        effect = (await applied(ctx, bid))["effect"]
        assert "agent-1: reads it" in effect and "agent-2: reads it" in effect
        shout = f"[Supervisor message, command #{bid}]"
        await eventually(lambda: got("agent-2", shout))
        # agent-1 is in a 30 s sleep: the message waits for its next call, which an interrupt brings forward.
        iid, _ = await command(ctx, Interrupt(), "agent-1")
        await applied(ctx, iid)
        await eventually(lambda: got("agent-1", shout))
        rows = await ctx.store.transcript("agent-2")
        assert sum(marker in str(r.content) for r in rows) == 1, "persisted once, as its own user message"


async def test_interrupt_kills_the_running_command(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, backend, _):
        await eventually(lambda: _started(ctx))
        cid, _ = await command(ctx, Interrupt(), "agent-1")
        assert (await applied(ctx, cid))["effect"] == "killed the running sandbox command"
        exited = await eventually(lambda: events(ctx.store, SandboxExited))
        assert exited[0].payload.killed is True
        request = await eventually(lambda: len(backend.of("agent-1")) >= 3 and backend.of("agent-1")[2])
        result = last_results(request)[0]
        assert result["is_error"] is True and "the supervisor interrupted it" in result["content"]
        cid, _ = await command(ctx, Interrupt(), "agent-1")
        assert (await applied(ctx, cid))["effect"] == "no sandbox command was running"


async def _started(ctx: RunContext) -> bool:
    """True once agent-1's long command runs: its first line came out of the sandbox."""
    return bool(await events(ctx.store, SandboxOutput, agent="agent-1"))


async def test_approval_mode_holds_tool_calls_for_approve_and_deny(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, backend, _):
        cid, _ = await command(ctx, ApprovalOn(), "agent-2")
        assert (await applied(ctx, cid))["effect"] == "tool calls now wait for approve / deny"
        asked = await eventually(lambda: events(ctx.store, ApprovalRequested, agent="agent-2"))
        first = asked[0].payload.call_id
        assert await status_of(ctx, "agent-2") == "waiting_approval"
        assert found(await ctx.store.agent("agent-2")).approval is True
        held = len(backend.of("agent-2"))
        await meanwhile(ctx, backend)
        assert len(backend.of("agent-2")) == held, "nothing runs while the call waits"
        assert not await _result(ctx, first), "nor the call itself"

        aid, _ = await command(ctx, Approve(call_id=first), "agent-2")
        assert (await applied(ctx, aid))["effect"] == f"approved {first}"
        second = await eventually(lambda: _asked_after(ctx, first))
        did, _ = await command(ctx, Deny(call_id=second, reason="read the leaderboard instead"), "agent-2")
        assert (await applied(ctx, did))["effect"] == f"denied {second}"
        await eventually(lambda: _result(ctx, second))
        results = {e.payload.call_id: e.payload for e in await events(ctx.store, ToolReturned, agent="agent-2")}
        assert results[first].ok is True
        assert (
            results[second].ok is False
            and results[second].output == "not run: denied by the supervisor: read the leaderboard instead"
        )

        third = await eventually(lambda: _asked_after(ctx, second))
        oid, _ = await command(ctx, ApprovalOff(), "agent-2")
        assert "released 1 waiting tool call(s)" in (await applied(ctx, oid))["effect"]
        await eventually(lambda: _result(ctx, third))


async def _asked_after(ctx: RunContext, call_id: str) -> str | None:
    asked = [e.payload.call_id for e in await events(ctx.store, ApprovalRequested, agent="agent-2")]
    return asked[asked.index(call_id) + 1] if call_id in asked[:-1] else None


async def _result(ctx: RunContext, call_id: str) -> bool:
    return any(e.payload.call_id == call_id for e in await events(ctx.store, ToolReturned))


async def test_stop_ends_one_agent_and_stop_run_ends_the_team_and_resume_respects_both(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, backend, task):
        await eventually(lambda: _started(ctx))
        cid, _ = await command(ctx, Stop(), "agent-1")
        assert (await applied(ctx, cid))["effect"].startswith("stops after the step in flight")
        await eventually(lambda: has_status(ctx, "agent-1", "stopped"))
        count = len(backend.of("agent-2"))
        await eventually(lambda: len(backend.of("agent-2")) > count)
        rid, _ = await command(ctx, StopRun(), "@run")
        assert (await applied(ctx, rid))["effect"] == "the run stops after every agent's step in flight"
        await asyncio.wait_for(task, 10)
        assert ctx.stop.is_set() and await status_of(ctx, "agent-2") == "stopped"
        before = {a: len(backend.of(a)) for a in ("agent-1", "agent-2")}
        # Resume: the agent the supervisor stopped stays stopped; the one the run stopped goes on.
        ctx.stop.clear()
        again = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        await eventually(lambda: len(backend.of("agent-2")) > before["agent-2"])
        ctx.stop.set()
        await asyncio.wait_for(again, 5)
        assert len(backend.of("agent-1")) == before["agent-1"]
        assert await status_of(ctx, "agent-1") == "stopped"


async def test_commands_that_cannot_apply_are_rejected_with_a_reason(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, _, _):
        nobody, _ = await command(ctx, Pause(), "agent-9")
        stray, _ = await command(ctx, Approve(call_id="toolu_nope"), "agent-1")
        for cid, words in (
            (nobody, "no agent named 'agent-9'"),
            (stray, "no tool call toolu_nope is waiting"),
        ):
            result = await applied(ctx, cid)
            assert result["status"] == "rejected" and words in result["effect"]


async def test_a_malformed_command_is_refused_at_the_store_and_one_written_by_hand_is_rejected(
    tmp_path: Path,
) -> None:
    async with team(tmp_path) as (ctx, _, task):
        with pytest.raises(InvalidCommand, match=r"^redirect: 'text' must not be empty$"):
            parse_command("redirect", {"text": "  "})
        with pytest.raises(InvalidCommand, match=r"^unknown command 'explode'"):
            parse_command("explode")
        # Rows that bypass the store's check: an unknown kind, a missing field, an extra field, broken JSON.
        raw = [("explode", "{}"), ("approve", "{}"), ("pause", '{"now": true}'), ("pause", "{not json")]
        ids = []
        for kind, payload in raw:
            ids.append(
                await ctx.store._insert(
                    "INSERT INTO commands (ts, target, kind, payload) VALUES (?, ?, ?, ?)",
                    (time.time(), "agent-1", kind, payload),
                )
            )
        effects = [await applied(ctx, cid) for cid in ids]
        assert [e["status"] for e in effects] == ["rejected"] * 4
        assert "unknown command 'explode'" in effects[0]["effect"]
        assert "approve: needs 'call_id' (the id of the tool call waiting for approval)" in effects[1]["effect"]
        assert "pause: takes no 'now'" in effects[2]["effect"]
        assert "payload is not JSON" in effects[3]["effect"]
        assert all("\n" not in e["effect"] for e in effects)
        ok, _ = await command(ctx, Pause(), "agent-1")
        assert (await applied(ctx, ok))["status"] == "applied", "the daemon goes on after malformed rows"
        assert not task.done()


async def test_team_approval_starts_agents_waiting_and_a_stop_answers_the_waiting_call(tmp_path: Path) -> None:
    backend = Playbook(lambda r: [tool("forum_read", f"r{turns_of(r)}")])
    async with run_context(tmp_path, config(team={"approval": True})) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        await eventually(lambda: has_status(ctx, "agent-1", "waiting_approval"))
        assert found(await ctx.store.agent("agent-1")).approval is True
        cid, _ = await command(ctx, StopRun(), "@run")
        await applied(ctx, cid)
        await asyncio.wait_for(task, 10)
        rows = await ctx.store.transcript("agent-1")
    assert rows[-1].content[0]["content"] == "not run: the agent is stopping (the run stopped)"
    assert rows[-1].step == 1 and len(backend.requests) == 1, "the step was committed with its answered call"


async def test_a_redirect_applied_by_a_daemon_that_died_is_read_after_resume_once(tmp_path: Path) -> None:
    from agents.agent_state import AgentControl
    from agents.control import CommandPoller

    backend = Playbook(lambda r: [tool("forum_read", f"r{turns_of(r)}")])
    async with run_context(tmp_path, config(run={"max_steps": 1})) as ctx:
        await ctx.store.register_agent("agent-1", backend="scripted", model="m")
        cid, _ = await command(ctx, Redirect(text="Read the forum first."), "*")
        # The dead daemon's poller took the command; its agent never read it.
        await CommandPoller(ctx.store, {"agent-1": AgentControl("agent-1")}, ctx.stop).poll_once()
        assert (await applied(ctx, cid))["status"] == "applied"
        await run_team(ctx, backend_factory=factory(backend))
        ctx.config = config(run={"max_steps": 2})
        await ctx.store.update_agent("agent-1", status="idle")
        await run_team(ctx, backend_factory=factory(backend))
        rows = await ctx.store.transcript("agent-1")

    marker = f"[Supervisor message, command #{cid}] Read the forum first."
    assert backend.requests[0].messages[0]["content"][-1] == {"type": "text", "text": marker}
    assert sum(marker in str(r.content) for r in rows) == 1
