"""The Claude backend through the real SDK against the fake Messages API: sessions, usage, cost, caching."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest

from aar.config import AgentConfig, AnthropicConfig, ModelPrice, RunConfig, TeamConfig, load_config
from aar.store import RunStore
from agents.anthropic_backend import AnthropicBackend
from agents.claude.errors import MissingApiKey, UnknownModel
from agents.claude.pricing import PRICES, family, price_for
from agents.prompts import system_prompt
from tests.fakes.anthropic_fixtures import (
    API_KEY,
    KEY_ENV,
    MODEL,
    BackendFactory,
    drive,
    fake_api,
    make_backend,
    request,
)
from tests.fakes.anthropic_replies import ToolUse, Usage, reply
from tests.fakes.anthropic_server import FakeAnthropic


async def _nothing(_: str) -> None:
    return None


async def test_multi_step_tool_session(fake_api: FakeAnthropic, make_backend: BackendFactory) -> None:
    fake_api.script(
        reply("Let me read the forum first.", ToolUse("forum_read", {"limit": 5})),
        reply(
            "Two things at once.",
            ToolUse("bash", {"command": "cat task/README.md"}),
            ToolUse("bash", {"command": "ls -la task"}),
        ),
        reply("I have what I need; finishing this session."),
    )
    messages, responses, streamed = await drive(make_backend(), turns=5)

    assert [r.stop_reason for r in responses] == ["tool_use", "tool_use", "end_turn"]
    first = responses[0].content
    assert first[0] == {"type": "text", "text": "Let me read the forum first."}
    assert first[1]["type"] == "tool_use" and first[1]["name"] == "forum_read" and first[1]["input"] == {"limit": 5}
    assert set(first[1]) == {"type", "id", "name", "input"}, "blocks carry only what the API takes back"
    calls = [b for b in responses[1].content if b["type"] == "tool_use"]
    assert [c["input"]["command"] for c in calls] == ["cat task/README.md", "ls -la task"]
    assert len({c["id"] for c in calls}) == 2
    assert streamed == "Let me read the forum first.Two things at once.I have what I need; finishing this session."
    assert fake_api.pending == 0

    # Each request re-sends the whole transcript as stored, tool results paired with their calls.
    bodies = fake_api.bodies()
    assert len(bodies) == 3
    sent = bodies[2]["messages"]
    assert len(sent) == len(messages) - 1  # the final assistant turn came back in the last response
    assert sent[1]["content"] == responses[0].content
    assert sent[4]["content"][1]["tool_use_id"] == calls[1]["id"]
    assert all(b["model"] == MODEL and b["stream"] is True for b in bodies)


async def test_usage_and_cost_totals_are_exact(
    fake_api: FakeAnthropic, make_backend: BackendFactory, store: RunStore
) -> None:
    fake_api.script(
        reply("a", ToolUse("bash", {"command": "true"}), usage=Usage(1000, 200, cache_write_tokens=2000)),
        reply(
            "b",
            ToolUse("bash", {"command": "true"}),
            usage=Usage(50, 300, cache_write_tokens=400, cache_read_tokens=2000),
        ),
        reply("c", usage=Usage(7, 11, cache_write_tokens=0, cache_read_tokens=2400)),
    )
    _, responses, _ = await drive(make_backend(), turns=3)

    # Sonnet list prices per MTok: input 3, output 15, cache write 3.75, cache read 0.30.
    assert [r.cost_usd for r in responses] == [0.0135, 0.00675, 0.000906]
    assert [r.usage.model_dump() for r in responses] == [
        {"input_tokens": 1000, "output_tokens": 200, "cache_read_tokens": 0, "cache_write_tokens": 2000},
        {"input_tokens": 50, "output_tokens": 300, "cache_read_tokens": 2000, "cache_write_tokens": 400},
        {"input_tokens": 7, "output_tokens": 11, "cache_read_tokens": 2400, "cache_write_tokens": 0},
    ]
    await store.register_agent("agent-1", backend="anthropic", model=MODEL)
    for r in responses:
        await store.add_usage("agent-1", steps=1, cost_usd=r.cost_usd, **r.usage.model_dump())
    row = await store.agent("agent-1")
    assert row is not None
    assert (row.input_tokens, row.output_tokens, row.cache_write_tokens, row.cache_read_tokens) == (
        1057,
        511,
        2400,
        4400,
    )
    assert row.cost_usd == pytest.approx(0.021156, abs=1e-12)


async def test_cached_prefix_is_byte_stable_between_steps(
    fake_api: FakeAnthropic, make_backend: BackendFactory
) -> None:
    fake_api.script(*[reply(f"step {i}", ToolUse("bash", {"command": f"echo {i}"})) for i in range(4)], reply("done"))
    await drive(make_backend(), turns=5)
    raw = [r.body for r in fake_api.requests]
    assert len(raw) == 5

    for before, after in itertools.pairwise(raw):
        # Step n's rolling breakpoint is the last cache_control inside its messages array.
        messages_end = before.index(b'],"model"')
        breakpoint_at = before.rindex(b',"cache_control"', 0, messages_end)
        assert after[:breakpoint_at] == before[:breakpoint_at]
        # Everything after the messages (model, system, tools with their breakpoints) is identical too.
        assert after[after.index(b'],"model"') :] == before[messages_end:]

    for body in fake_api.bodies():
        marks = json.dumps(body).count('"cache_control"')
        assert marks == 3, "tools, system and the last message"
        assert "cache_control" in body["messages"][-1]["content"][-1]
        assert all("cache_control" not in b for m in body["messages"][:-1] for b in m["content"])


async def test_cache_reads_grow_with_the_transcript(fake_api: FakeAnthropic, make_backend: BackendFactory) -> None:
    fake_api.script(
        *[reply(f"step {i} " * 20, ToolUse("bash", {"command": f"echo {i}"})) for i in range(3)], reply("done")
    )
    _, responses, _ = await drive(make_backend(), turns=4)
    usage = [r.usage for r in responses]
    assert usage[0].cache_read_tokens == 0 and usage[0].cache_write_tokens > 0
    for prev, cur in itertools.pairwise(usage):
        assert cur.cache_read_tokens == prev.cache_read_tokens + prev.cache_write_tokens + prev.input_tokens
        assert 0 < cur.cache_write_tokens < cur.cache_read_tokens
        assert cur.input_tokens == 0, "everything new is written to the cache at the rolling breakpoint"


def test_prices_resolve_dated_ids_and_refuse_unknown_models() -> None:
    assert family("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert price_for("claude-3-5-haiku-latest") is PRICES["claude-3-5-haiku"]
    opus = price_for("claude-opus-4-1-20250805")
    assert (opus.input, opus.output, opus.cache_write, opus.cache_read) == tuple(
        map(Decimal, ("15", "75", "18.75", "1.5"))
    )
    with pytest.raises(UnknownModel, match="no price known for model 'gpt-4o'; use one of: claude-"):
        price_for("gpt-4o")


def _claude_config(model: str = MODEL) -> RunConfig:
    return RunConfig(
        team=TeamConfig(backend="anthropic", model=model, count=2), anthropic=AnthropicConfig(api_key_env=KEY_ENV)
    )


async def test_from_config_checks_key_and_prices_at_startup() -> None:
    with pytest.raises(MissingApiKey) as missing:
        AnthropicBackend.from_config(_claude_config(), env={})
    assert str(missing.value).count("\n") == 0 and f"${KEY_ENV} is not set" in str(missing.value)
    with pytest.raises(UnknownModel, match="claude-nonexistent-9"):
        AnthropicBackend.from_config(_claude_config("claude-nonexistent-9"), env={KEY_ENV: API_KEY})
    mixed = RunConfig(
        team=TeamConfig(backend="scripted"),
        agents=[AgentConfig(name="a"), AgentConfig(name="b", backend="anthropic", model="claude-haiku-4-5")],
        anthropic=AnthropicConfig(api_key_env=KEY_ENV),
    )
    backend = AnthropicBackend.from_config(mixed, env={KEY_ENV: API_KEY})
    await backend.aclose()


async def test_config_prices_price_a_model_the_table_lacks() -> None:
    config = _claude_config("claude-nonexistent-9")
    config.anthropic.prices = {"claude-nonexistent-9": ModelPrice(input=2, output=10, cache_write=2.5, cache_read=0.2)}
    backend = AnthropicBackend.from_config(config, env={KEY_ENV: API_KEY})
    try:
        price = backend._prices["claude-nonexistent-9"]
        assert (price.input, price.output, price.cache_write, price.cache_read) == tuple(
            map(Decimal, ("2", "10", "2.5", "0.2"))
        )
    finally:
        await backend.aclose()


def test_system_prompt_explains_task_and_rules_and_is_stable() -> None:
    config = load_config(
        {"team": {"backend": "anthropic", "model": MODEL, "count": 9}, "evaluator": {"query_budget": 12}}
    )
    agents = config.resolved_agents()
    prompt = system_prompt(agents[2], config)
    assert prompt == system_prompt(agents[2], config), "no clock or counter in the cached prefix"
    for needle in (
        "agent-3, one of 9",
        "PGR = (acc_transfer - acc_weak) / (acc_ceiling - acc_weak)",
        agents[2].direction,
        "task/README.md",
        "def run(ctx)",
        "python -m evaluator.compute.run_method my_method.py --bundle task --seed 0 --out preds.json",
        "You have 12 such queries",
        "forum_post",
        "report all seeds",
        "Do not try to learn test labels",
        "supervisor overrides",
    ):
        assert needle in prompt, needle
    assert system_prompt(agents[3], config) != prompt


async def test_a_full_context_window_stops_a_turn_like_max_tokens(
    fake_api: FakeAnthropic, make_backend: BackendFactory
) -> None:
    fake_api.script(
        reply("I was about to", stop_reason="model_context_window_exceeded"), reply("cut", stop_reason="max_tokens")
    )
    backend = make_backend()
    for _ in range(2):
        response = await backend.respond(request([{"role": "user", "content": "go"}]), _nothing)
        assert response.stop_reason == "max_tokens"
