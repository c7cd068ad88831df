"""A Claude agent through the real team, loop, tools and store, against the fake Messages API."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aar.config import AnthropicConfig, RunConfig, RunSection, SandboxConfig, TeamConfig
from aar.events import AgentStepCompleted, RunLog
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.team import run_team
from tests.fakes.anthropic_fixtures import API_KEY, KEY_ENV, MODEL, fake_api
from tests.fakes.anthropic_replies import Drop, HttpError, ToolUse, Usage, reply
from tests.fakes.anthropic_server import FakeAnthropic

SUMMARY = "Read the forum, claimed confidence-loss tuning, nothing scored yet."


@pytest.mark.slow
async def test_claude_agent_session_through_the_loop(
    fake_api: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    fake_api.script(
        HttpError(429, "rate_limit_error", headers={"retry-after-ms": "5"}),
        reply("Reading the forum first.", ToolUse("forum_read", {}), usage=Usage(900, 40, cache_write_tokens=3000)),
        Drop(reply("Claiming.", ToolUse("forum_post", {"title": "Claim: confidence loss", "body": "half a post"}))),
        reply(
            "Claiming an idea.",
            ToolUse("forum_post", {"title": "Claim: confidence loss", "body": "aux_weight sweep 0.25..1"}),
            usage=Usage(60, 80, cache_write_tokens=200, cache_read_tokens=3000),
        ),
        reply("Checking.", ToolUse("leaderboard", raw_json='{"limit": twenty}'), usage=Usage(30, 20, 100, 3200)),
        reply("Done for now.", ToolUse("finish", {"summary": SUMMARY}), usage=Usage(10, 50, 90, 3300)),
    )
    config = RunConfig(
        run=RunSection(name="claude", max_steps=10),
        team=TeamConfig(backend="anthropic", model=MODEL, count=1),
        anthropic=AnthropicConfig(base_url=fake_api.base_url, api_key_env=KEY_ENV, max_retries=3),
        sandbox=SandboxConfig(backend="local"),
    )
    paths = RunPaths(tmp_path / "claude-run")
    paths.make()
    store = await RunStore.open(paths.db, create=True)
    try:
        await run_team(RunContext(paths=paths, config=config, store=store))
        agent = await store.agent("agent-1")
        transcript = await store.transcript("agent-1")
        posts = await store.posts()
        await store.flush()
        events = await store.latest_events(10_000, agent="agent-1")
    finally:
        await store.close()

    assert agent is not None and agent.status == "finished" and agent.steps == 4
    assert fake_api.pending == 0 and len(fake_api.requests) == 6

    # Usage and dollars: exactly the four successful calls, at Sonnet list prices.
    assert (agent.input_tokens, agent.output_tokens, agent.cache_write_tokens, agent.cache_read_tokens) == (
        1000,
        190,
        3390,
        9500,
    )
    expected = (1000 * 3 + 190 * 15 + 3390 * 3.75 + 9500 * 0.3) / 1e6
    assert agent.cost_usd == pytest.approx(expected, abs=1e-12)
    assert sum(e.payload.cost_usd for e in events if isinstance(e.payload, AgentStepCompleted)) == pytest.approx(
        expected, abs=1e-12
    )

    # The dropped stream left nothing behind: one post, with the complete body, and no half tool call.
    assert [(p.title, p.body) for p in posts] == [("Claim: confidence loss", "aux_weight sweep 0.25..1")]
    calls = [b for r in transcript if r.role == "assistant" for b in r.content if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["forum_read", "forum_post", "leaderboard", "finish"]

    # Invalid JSON became a clear tool error for the model, and the agent went on to finish.
    results = {
        b["tool_use_id"]: b
        for r in transcript
        if r.role == "user" and isinstance(r.content, list)
        for b in r.content
        if b.get("type") == "tool_result"
    }
    bad = results[calls[2]["id"]]
    assert bad.get("is_error") is True and "not a JSON object" in bad["content"] and "twenty" in bad["content"]

    # Every step re-sent the previous one byte for byte up to its cache breakpoint.
    bodies = [r.body for r in fake_api.requests]
    steps = [bodies[1], bodies[3], bodies[4], bodies[5]]
    for before, after in itertools.pairwise(steps):
        end = before.index(b'],"model"')
        cut = before.rindex(b',"cache_control"', 0, end)
        assert after[:cut] == before[:cut]
        assert after[after.index(b'],"model"') :] == before[end:]

    # The retries are on record for the supervisor; the key is nowhere in the store.
    notes = [e.payload.message for e in events if isinstance(e.payload, RunLog)]
    assert any("429 rate_limit_error" in n for n in notes) and any("stream dropped" in n for n in notes)
    stored = b"".join(p.read_bytes() for p in paths.root.rglob("*") if p.is_file())
    assert b"aux_weight sweep" in stored and API_KEY.encode() not in stored


async def test_a_full_window_is_compacted_by_the_loop_and_the_summary_is_paid_for(
    fake_api: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    summary = "Summary: read the forum; it is empty. Next: claim confidence-loss tuning."
    fake_api.script(
        reply("Reading.", ToolUse("forum_read", {}), usage=Usage(400, 200)),
        reply(summary, usage=Usage(10, 30, cache_read_tokens=600)),
        reply("Done.", ToolUse("finish", {"summary": "compacted and finished"}), usage=Usage(5, 7)),
    )
    config = RunConfig(
        team=TeamConfig(backend="anthropic", model=MODEL, count=1),
        anthropic=AnthropicConfig(base_url=fake_api.base_url, api_key_env=KEY_ENV, context_window=1000, compact_at=0.5),
        sandbox=SandboxConfig(backend="local"),
    )
    paths = RunPaths(tmp_path / "compact-run")
    paths.make()
    store = await RunStore.open(paths.db, create=True)
    try:
        await run_team(RunContext(paths=paths, config=config, store=store))
        agent = await store.agent("agent-1")
        live = [r for r in await store.transcript("agent-1") if not r.role.startswith("archived:")]
    finally:
        await store.close()

    assert agent is not None and agent.status == "finished" and agent.steps == 2
    summary_call, after = fake_api.bodies()[1:]
    assert summary_call["messages"][-1]["content"][-1]["text"].startswith("Your context window is nearly full")
    assert summary in after["messages"][0]["content"][0]["text"] and len(after["messages"]) == 1
    assert summary in str(live[0].content)
    assert (agent.input_tokens, agent.output_tokens, agent.cache_read_tokens) == (415, 237, 600)
