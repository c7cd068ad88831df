"""``ask_supervisor`` through the real team, loop, command poller and store: the agent asks, waits paused,
the answer arrives as a message before its next model call, and a resumed run still waits for it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from aar.commands import Answer, Resume
from aar.events import AgentStatusChanged, SupervisorAsked
from aar.inbox import catch_up
from aar.runtime import RunContext
from aar.store import EventRow
from agents.backend import ModelRequest
from agents.team import run_team
from tests.agents.helpers import Heard, Playbook, config, events, factory, run_context, text, tool, turns_of
from tests.support import eventually
from tests.unreadable import REASONS, unreadable_rows

QUESTION = "Is reading the public feedback split allowed?"


def asker(request: ModelRequest) -> list[dict[str, Any]]:
    """agent-1 asks on its second turn; everyone reads the forum otherwise."""
    n = turns_of(request)
    if request.agent == "agent-1" and n == 1:
        return [text("Unsure; asking."), tool("ask_supervisor", "ask-1", question=QUESTION)]
    return [tool("forum_read", f"{request.agent}-read-{n}", limit=1)]


def _answered(backend: Playbook, mark: str) -> ModelRequest | None:
    return next((r for r in backend.of("agent-1") if mark in str(r.messages[-1]["content"])), None)


async def test_ask_pauses_the_agent_until_the_answer_reaches_its_next_model_call(tmp_path: Path) -> None:
    backend = Playbook(asker, delay_s=0.02)
    async with run_context(tmp_path, config(team={"count": 2})) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        try:
            asked = await eventually(lambda: events(ctx.store, SupervisorAsked, agent="agent-1"))
            assert asked[0].payload == SupervisorAsked(step=2, question=QUESTION, call_id="ask-1")
            await eventually(lambda: _status(ctx, "agent-1", "paused"))
            await catch_up(ctx.store)
            (item,) = [i for i in await ctx.store.inbox() if i.kind == "ask"]
            assert (item.agent, item.rank, item.call_id) == ("agent-1", 0, "ask-1")
            held = len(backend.of("agent-1"))
            others = len(backend.of("agent-2"))
            await eventually(lambda: len(backend.of("agent-2")) >= others + 3, what="the others to go on")
            assert len(backend.of("agent-1")) == held, "an agent waiting for an answer makes no model call"

            wrong = await ctx.store.issue_command(Answer(call_id="nope", text="x"), "agent-1")
            ok = await ctx.store.issue_command(Answer(call_id="ask-1", text="Yes, feedback only."), "agent-1")
            request = await eventually(lambda: _answered(backend, "Yes, feedback only."), timeout=2)
            commands = {c.id: c for c in await ctx.store.commands()}
            assert commands[wrong].status == "rejected" and "not waiting on question nope" in commands[wrong].effect
            assert commands[ok].status == "applied"
            last = request.messages[-1]["content"]
            assert last[-1] == {
                "type": "text",
                "text": f"[Supervisor message, command #{ok}] Answer to your question (ask-1): Yes, feedback only.",
            }
            result = next(b for b in last if b.get("type") == "tool_result")
            assert "paused until they answer" in result["content"]
            await ctx.store.flush()
            await catch_up(ctx.store)
            assert not [i for i in await ctx.store.inbox() if i.kind == "ask"], "going on settles the question"
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 10)


async def test_a_resumed_run_keeps_waiting_and_a_resume_command_waives_the_question(tmp_path: Path) -> None:
    backend = Playbook(asker, delay_s=0.02)
    async with run_context(tmp_path, config(team={"count": 1})) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        await eventually(lambda: _status(ctx, "agent-1", "paused"))
        ctx.stop.set()
        await asyncio.wait_for(task, 10)
        # The run stopped while agent-1 waited (a crash leaves the same rows); a new team takes over.
        ctx.stop.clear()
        waits = len(await _waiting(ctx))
        again = Playbook(asker, delay_s=0.02)
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(again)))
        try:
            # Checked at the restarted agent's first event: it says it waits, and it has made no model call.
            await eventually(lambda: _waiting_more(ctx, waits), what="agent-1 to wait again")
            assert again.of("agent-1") == [], "still waiting for the answer after the restart"
            await ctx.store.flush()
            await catch_up(ctx.store)
            (item,) = await ctx.store.inbox()
            assert item.kind == "ask" and item.call_id == "ask-1", "the question is open in the inbox again"
            cid = await ctx.store.issue_command(Resume(), "agent-1")
            await eventually(lambda: again.of("agent-1"), timeout=2)
            effect = next(c.effect for c in await ctx.store.commands() if c.id == cid)
            assert effect == "goes on without an answer to its question"
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 10)


async def _status(ctx: Any, agent: str, status: str) -> bool:
    row = await ctx.store.agent(agent)
    return row is not None and row.status == status


def test_a_scripted_researcher_told_to_ask_asks_once_then_follows_the_answer() -> None:
    from agents.scripted.policy import Researcher
    from agents.scripted.reading import read

    def step(n: int, name: str, args: dict[str, Any], output: str) -> list[dict[str, Any]]:
        return [
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}", "name": name, "input": args}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": output}]},
        ]

    start = [{"role": "user", "content": "Start. Your starting direction: Bootstrapping. Ask the supervisor first."}]
    researcher = Researcher("ann", "Bootstrapping. Ask the supervisor before your first claim.")
    plain = Researcher("bob", "Bootstrapping.")
    after_read = start + step(0, "forum_read", {"limit": 50}, "the forum is empty")
    assert plain.decide(read(after_read)).tool == "leaderboard", "without the phrase nobody asks"
    action = researcher.decide(read(after_read))
    assert action.tool == "ask_supervisor" and "method family" in action.input["question"]
    asked = after_read + step(1, "ask_supervisor", action.input, "asked the supervisor (question t1)")
    asked[-1]["content"].append(
        {"type": "text", "text": "[Supervisor message, command #3] Answer to your question (t1): try filtering"}
    )
    going_on = researcher.decide(read(asked))
    assert going_on.tool == "forum_read" and "The supervisor says" in going_on.thinking
    after = asked + step(2, "forum_read", {"limit": 50}, "the forum is empty")
    assert researcher.decide(read(after)).tool == "leaderboard", "it asks only once"
    board = after + step(3, "leaderboard", {}, "no scores yet")
    claim = researcher.decide(read(board))
    assert claim.tool == "forum_post" and claim.input["title"].startswith("Claim: filtering"), "the answer picks it"


async def test_a_resumed_run_skips_unreadable_questions_once_and_waits_on_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = Playbook(asker, delay_s=0.02)
    async with run_context(tmp_path, config(team={"count": 1})) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        await eventually(lambda: _status(ctx, "agent-1", "paused"))
        ctx.stop.set()
        await asyncio.wait_for(task, 10)
        # Questions after the good one that no aar can read: the resumed agent must not take them for its own.
        ctx.store.emit_raw(unreadable_rows("agent.ask"))
        await ctx.store.flush()
        ctx.stop.clear()
        again = Playbook(asker, delay_s=0.02)
        with caplog.at_level(logging.WARNING, logger="aar.agents.team"):
            task = asyncio.create_task(run_team(ctx, backend_factory=factory(again)))
            try:
                asked = await eventually(lambda: _asked(ctx, times=2))
                assert asked[-1].payload == SupervisorAsked(step=2, question=QUESTION, call_id="ask-1"), "asked again"
                cid = await ctx.store.issue_command(Answer(call_id="ask-1", text="Yes."), "agent-1")
                await eventually(lambda: _answered(again, "Answer to your question (ask-1): Yes."), timeout=5)
                [row] = [c for c in await ctx.store.commands() if c.id == cid]
                assert row.status == "applied", row.effect
            finally:
                ctx.stop.set()
                await asyncio.wait_for(task, 10)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    # Resume reads only agent.ask rows: the unknown kind is not one, the other two are, each logged once.
    assert len(skipped) == 2 and REASONS[0] in skipped[0] and REASONS[2] in skipped[1], skipped


async def _asked(ctx: Any, *, times: int) -> list[Heard[SupervisorAsked]] | None:
    asked = await events(ctx.store, SupervisorAsked, agent="agent-1")
    return asked if len(asked) >= times else None


WAITING = AgentStatusChanged(status="paused", detail="waiting for the supervisor's answer (ask-1)")


async def _waiting(ctx: RunContext) -> list[Heard[AgentStatusChanged]]:
    """agent-1's status events that say it waits for the answer to ask-1."""
    return [e for e in await events(ctx.store, AgentStatusChanged, agent="agent-1") if e.payload == WAITING]


async def _waiting_more(ctx: RunContext, than: int) -> bool:
    return len(await _waiting(ctx)) > than
