"""Compaction: the backend says when the window is nearly full and has the model summarise the transcript."""

from __future__ import annotations

from typing import Any

import pytest

from aar.events import AgentUsage, RunLog
from aar.store import RunStore
from agents.anthropic_backend import DROPPED_NOTE
from agents.backend import Usage
from agents.claude.compaction import COMPACT_INSTRUCTION, SUMMARY_HEADER
from tests.fakes.anthropic_fixtures import (
    MODEL,
    BackendFactory,
    drive,
    fake_api,
    make_backend,
    request,
)
from tests.fakes.anthropic_replies import HttpError, ToolUse, reply
from tests.fakes.anthropic_replies import Usage as ScriptedUsage
from tests.fakes.anthropic_server import FakeAnthropic

SUMMARY = "Goal: raise PGR. Tried confidence aux_weight=0.5 (submission 3, PGR 0.41 [0.35, 0.47]). Next: filtering."


async def _nothing(_: str) -> None:
    return None


async def _session(fake_api: FakeAnthropic, backend: Any, turns: int = 3) -> list[dict[str, Any]]:
    fake_api.script(*[reply(f"Step {i}.", ToolUse("bash", {"command": f"echo {i}"})) for i in range(turns)])
    messages, _, _ = await drive(backend, turns=turns)
    return messages


def test_needs_compaction_at_the_configured_fraction_of_the_window(make_backend: BackendFactory) -> None:
    backend = make_backend(context_window=10_000, compact_at=0.5)
    assert backend.needs_compaction(
        Usage(input_tokens=3000, cache_read_tokens=1500, cache_write_tokens=400, output_tokens=100)
    )
    assert not backend.needs_compaction(
        Usage(input_tokens=3000, cache_read_tokens=1500, cache_write_tokens=400, output_tokens=99)
    )
    assert not backend.needs_compaction(Usage())


async def test_compact_summarises_on_the_cached_prefix_and_counts_the_cost(
    fake_api: FakeAnthropic, make_backend: BackendFactory, store: RunStore
) -> None:
    await store.register_agent("agent-1", backend="anthropic", model=MODEL)
    backend = make_backend(store=store)
    messages = await _session(fake_api, backend)
    fake_api.script(reply(SUMMARY, usage=ScriptedUsage(10, 120, cache_write_tokens=30, cache_read_tokens=5000)))

    compacted = await backend.compact(request(messages))

    assert compacted == [{"role": "user", "content": [{"type": "text", "text": SUMMARY_HEADER + SUMMARY}]}]
    last_step, summary_call = fake_api.requests[-2].body, fake_api.requests[-1].body
    breakpoint_at = last_step.rindex(b',"cache_control"', 0, last_step.index(b'],"model"'))
    assert summary_call[:breakpoint_at] == last_step[:breakpoint_at], "the summary call reads the step's cache"
    sent = fake_api.bodies()[-1]["messages"]
    assert len(sent) == len(messages)
    assert sent[-1]["content"][-1]["text"] == COMPACT_INSTRUCTION
    assert sent[-1]["content"][0]["type"] == "tool_result", "appended to the pending tool results, not a new turn"

    row = await store.agent("agent-1")
    assert row is not None
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens) == (10, 120, 5000, 30)
    assert row.cost_usd == pytest.approx((10 * 3 + 120 * 15 + 5000 * 0.3 + 30 * 3.75) / 1e6, abs=1e-12)
    await store.flush()
    usage = [e.payload for e in await store.latest_events(agent="agent-1") if isinstance(e.payload, AgentUsage)]
    assert [(u.purpose, u.output_tokens, u.cost_usd) for u in usage] == [("compaction", 120, row.cost_usd)], (
        "the compaction's spend is in the event log too: the counters equal the events (chaos bench, 30 min)"
    )
    notes = [e.payload.message for e in await store.latest_events(agent="agent-1") if isinstance(e.payload, RunLog)]
    assert any(f"transcript compacted: {len(messages)} messages" in n for n in notes)

    # The compacted transcript is a valid request of its own.
    fake_api.script(reply("Carrying on.", ToolUse("bash", {"command": "ls"})))
    response = await backend.respond(request(compacted), _nothing)
    assert response.stop_reason == "tool_use"
    assert fake_api.bodies()[-1]["messages"][0]["content"][0]["text"].startswith(SUMMARY_HEADER)


async def test_compact_drops_the_oldest_half_when_even_the_summary_request_overflows(
    fake_api: FakeAnthropic, make_backend: BackendFactory
) -> None:
    backend = make_backend()
    messages = await _session(fake_api, backend, turns=4)
    fake_api.script(
        HttpError(400, "invalid_request_error", "prompt is too long: 201000 tokens > 200000 maximum"), reply(SUMMARY)
    )

    compacted = await backend.compact(request(messages))

    assert compacted[0]["content"][0]["text"] == SUMMARY_HEADER + SUMMARY
    first_try, second_try = fake_api.bodies()[-2:]
    assert len(first_try["messages"]) == len(messages)
    kept = second_try["messages"]
    assert kept[0]["content"][0]["text"] == DROPPED_NOTE
    assert kept[1]["role"] == "assistant" and len(kept) < len(messages)
    assert kept[1:-1] == first_try["messages"][len(messages) - len(kept) + 1 : -1]


async def test_an_empty_summary_is_an_error(fake_api: FakeAnthropic, make_backend: BackendFactory) -> None:
    backend = make_backend()
    messages = await _session(fake_api, backend, turns=1)
    fake_api.script(reply(ToolUse("bash", {"command": "ls"})))
    with pytest.raises(Exception, match="returned no summary"):
        await backend.compact(request(messages))
