"""The agent loop with a real store file and the local sandbox: steps, events, resume, compaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aar.events import AgentStatusChanged, AgentStepCompleted, ErrorRaised, ModelText, SandboxExited, SandboxOutput
from agents.agent_state import AgentControl
from agents.backend import ModelRequest, ModelResponse, Usage
from agents.loop import CONTINUE_TEXT
from agents.team import make_loop, run_team
from tests.agents.helpers import Playbook, config, events, factory, last_results, run_context, text, tool, turns_of


def session(request: ModelRequest) -> list[dict[str, Any]]:
    n = turns_of(request)
    if n == 0:
        return [
            text("Let me look around the workspace first, then say hello."),
            tool("bash", "c1", command="echo hello; echo oops >&2"),
        ]
    if n == 1:
        return [text("Posting."), tool("forum_post", "c2", title="Claim: nothing", body="just testing")]
    return [text("Done."), tool("finish", "c3", summary="said hello")]


async def test_each_step_is_persisted_whole_with_counters_and_events(tmp_path: Path) -> None:
    backend = Playbook(session, usage=Usage(input_tokens=100, output_tokens=10, cache_read_tokens=5), cost_usd=0.25)
    async with run_context(tmp_path, config(run={"max_steps": 10})) as ctx:
        await run_team(ctx, backend_factory=factory(backend))
        store = ctx.store
        agent = await store.agent("agent-1")
        rows = await store.transcript("agent-1")
        kinds = [e.kind for e in await events(store, agent="agent-1")]
        out = await events(store, SandboxOutput)
        exits = await events(store, SandboxExited)
        texts = await events(store, ModelText)
        steps = await events(store, AgentStepCompleted)
        statuses = [e.payload.status for e in await events(store, AgentStatusChanged)]

    assert agent is not None and agent.status == "finished" and agent.steps == 3
    assert (agent.input_tokens, agent.output_tokens, agent.cache_read_tokens, agent.cost_usd) == (300, 30, 15, 0.75)
    assert [(r.step, r.role) for r in rows] == [
        (0, "user"),
        (1, "assistant"),
        (1, "user"),
        (2, "assistant"),
        (2, "user"),
        (3, "assistant"),
        (3, "user"),
    ]
    bash_result = rows[2].content[0]
    assert bash_result["tool_use_id"] == "c1" and "exit code 0" in bash_result["content"]
    assert "hello" in bash_result["content"] and "[stderr]\noops" in bash_result["content"]
    assert {(e.payload.stream, e.payload.text) for e in out} == {("stdout", "hello\n"), ("stderr", "oops\n")}
    assert [e.payload.exit_code for e in exits] == [0]
    # Streamed text is coalesced into fewer events, nothing lost.
    first = [e.payload.text for e in texts if e.payload.step == 1]
    assert "".join(first) == "Let me look around the workspace first, then say hello." and len(first) < 19
    assert [e.payload.step for e in steps] == [1, 2, 3] and steps[0].payload.cost_usd == 0.25
    assert kinds.count("tool.call") == kinds.count("tool.result") == 3
    assert {"thinking", "running_tool", "finished"} <= set(statuses) and statuses[-1] == "finished"
    # Each request is the transcript so far: the second one ends with the first step's tool result.
    assert backend.requests[1].messages[1]["content"] == rows[1].content
    assert last_results(backend.requests[1])[0]["tool_use_id"] == "c1"
    assert backend.closed


async def test_a_loop_rebuilt_from_the_store_sends_the_request_the_old_one_would_have(tmp_path: Path) -> None:
    backend = Playbook(session)
    async with run_context(tmp_path, config(run={"max_steps": 2})) as ctx:
        await run_team(ctx, backend_factory=factory(backend))
        ctx.config = config(run={"max_steps": 3})  # the step limit is in the system prompt
        agent = ctx.config.resolved_agents()[0]
        rebuilt = make_loop(ctx, agent, backend, AgentControl(agent.name))
        await rebuilt.load()
        predicted = rebuilt.request()
        await ctx.store.update_agent(agent.name, status="idle")
        await run_team(ctx, backend_factory=factory(backend))

    assert len(backend.requests) == 3
    assert backend.requests[2] == predicted
    assert predicted.model_dump_json() == backend.requests[2].model_dump_json()


async def test_a_reply_without_tool_calls_is_answered_with_a_nudge(tmp_path: Path) -> None:
    def policy(request: ModelRequest) -> list[dict[str, Any]]:
        return [text("Thinking out loud.")] if turns_of(request) == 0 else [tool("finish", "f", summary="ok")]

    backend = Playbook(policy)
    async with run_context(tmp_path, config()) as ctx:
        await run_team(ctx, backend_factory=factory(backend))
        rows = await ctx.store.transcript("agent-1")

    assert rows[2].content == [{"type": "text", "text": CONTINUE_TEXT}]
    assert backend.requests[1].messages[-1]["content"] == [{"type": "text", "text": CONTINUE_TEXT}]


class Compacting(Playbook):
    """A playbook whose window is "full" after its first step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compacted: list[ModelRequest] = []

    def needs_compaction(self, usage: Usage) -> bool:
        return usage.input_tokens >= 100

    async def compact(self, request: ModelRequest) -> list[dict[str, Any]]:
        self.compacted.append(request)
        return [{"role": "user", "content": [text("Summary: I said hello.")]}]


async def test_a_full_window_is_compacted_and_the_transcript_replaced(tmp_path: Path) -> None:
    backend = Compacting(session, usage=Usage(input_tokens=100, output_tokens=1))
    async with run_context(tmp_path, config(run={"max_steps": 2})) as ctx:
        await run_team(ctx, backend_factory=factory(backend))
        rows = await ctx.store.transcript("agent-1")

    assert len(backend.compacted) == 1 and len(backend.compacted[0].messages) == 3
    assert backend.requests[1].messages == [{"role": "user", "content": [text("Summary: I said hello.")]}]
    live = [r for r in rows if not r.role.startswith("archived:")]
    assert [r.role for r in rows if r.role.startswith("archived:")] == [
        "archived:user",
        "archived:assistant",
        "archived:user",
    ]
    assert live[0].content == [text("Summary: I said hello.")] and [r.role for r in live] == [
        "user",
        "assistant",
        "user",
    ]


async def test_a_model_failure_ends_the_agent_with_an_error_and_resume_goes_on(tmp_path: Path) -> None:
    from agents.claude.errors import ModelCallFailed

    failing = {"on": True}

    def policy(request: ModelRequest) -> list[dict[str, Any]] | ModelResponse:
        if failing["on"]:
            raise ModelCallFailed("anthropic: agent-1: gave up after 3 attempts (overloaded); try later")
        return [tool("finish", "f", summary="done")]

    backend = Playbook(policy)
    async with run_context(tmp_path, config()) as ctx:
        await run_team(ctx, backend_factory=factory(backend))
        errored = await ctx.store.agent("agent-1")
        errors = await events(ctx.store, ErrorRaised)
        failing["on"] = False
        await run_team(ctx, backend_factory=factory(backend))
        resumed = await ctx.store.agent("agent-1")

    assert errored is not None and errored.status == "error" and errored.steps == 0
    assert "gave up after 3 attempts" in errors[0].payload.message
    assert resumed is not None and resumed.status == "finished" and resumed.steps == 1
    assert backend.requests[0] == backend.requests[1], "the failed call is sent again as it was"
