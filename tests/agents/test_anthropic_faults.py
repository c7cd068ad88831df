"""The Claude backend under failure: rate-limit and overload storms, dropped streams, bad tool JSON, bad keys."""

from __future__ import annotations

import pytest

from aar.events import RunLog
from aar.store import RunStore
from agents.claude.errors import ContextOverflow, ModelCallFailed
from agents.claude.stream import INVALID_INPUT_KEY
from tests.fakes.anthropic_fixtures import (
    KEY_ENV,
    MODEL,
    BackendFactory,
    drive,
    fake_api,
    make_backend,
    request,
)
from tests.fakes.anthropic_replies import Drop, HttpError, StreamError, ToolUse, reply
from tests.fakes.anthropic_server import FakeAnthropic

RATE_LIMITED = HttpError(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit")
OVERLOADED = HttpError(529, "overloaded_error", "Overloaded")


async def _nothing(_: str) -> None:
    return None


async def test_rate_limit_and_overload_storm_recovers_within_max_retries(
    fake_api: FakeAnthropic, make_backend: BackendFactory, store: RunStore
) -> None:
    await store.register_agent("agent-1", backend="anthropic", model=MODEL)
    fake_api.script(
        RATE_LIMITED, OVERLOADED, RATE_LIMITED, StreamError("overloaded_error"), OVERLOADED, reply("made it")
    )
    response = await make_backend(max_retries=5, store=store).respond(
        request([{"role": "user", "content": "go"}]), _nothing
    )

    assert response.content == [{"type": "text", "text": "made it"}]
    assert len(fake_api.requests) == 6
    assert len({r.body for r in fake_api.requests}) == 1, "every retry sends the same request"
    await store.flush()
    notes = [e.payload.message for e in await store.latest_events(agent="agent-1") if isinstance(e.payload, RunLog)]
    assert len(notes) == 5
    assert "429 rate_limit_error" in notes[0] and "retry 1/5" in notes[0]
    assert "529 overloaded_error" in notes[1]
    assert "mid-stream overloaded_error" in notes[3]


async def test_storm_beyond_max_retries_fails_with_one_clear_line(
    fake_api: FakeAnthropic, make_backend: BackendFactory
) -> None:
    fake_api.script(*[OVERLOADED] * 4, reply("too late"))
    with pytest.raises(ModelCallFailed) as failed:
        await make_backend(max_retries=3).respond(request([{"role": "user", "content": "go"}]), _nothing)
    message = str(failed.value)
    assert message == (
        "anthropic: agent-1: gave up after 4 attempts (529 overloaded_error: Overloaded); "
        "try later or raise anthropic.max_retries"
    )
    assert len(fake_api.requests) == 4 and fake_api.pending == 1


@pytest.mark.slow
async def test_retry_after_header_is_honoured(fake_api: FakeAnthropic, make_backend: BackendFactory) -> None:
    fake_api.script(HttpError(429, "rate_limit_error", headers={"retry-after": "1"}), reply("ok"))
    await make_backend().respond(request([{"role": "user", "content": "go"}]), _nothing)
    first, second = fake_api.requests
    assert second.ts - first.ts >= 0.95, "waited as the server asked, not the 1 ms base backoff"


async def test_stream_dropped_mid_tool_call_is_retried_without_a_half_call(
    fake_api: FakeAnthropic, make_backend: BackendFactory
) -> None:
    call = ToolUse(
        "bash", {"command": "python -m evaluator.compute.run_method m.py --bundle task --seed 0 --out p.json"}
    )
    fake_api.script(
        Drop(reply("Running it now.", call)),
        Drop(reply("Running it now.", call)),
        reply("Running it now.", call),
        reply("ok"),
    )
    messages, _responses, streamed = await drive(make_backend(max_retries=2), turns=2)

    tool_calls = [b for m in messages if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
    assert len(tool_calls) == 1
    assert tool_calls[0]["input"] == call.input, "the recorded call is the complete one"
    assert len(fake_api.requests) == 4
    assert streamed.count("Running it now.") == 3, "text already shown is shown again by the retry"


async def test_drops_beyond_max_retries_fail_clearly(fake_api: FakeAnthropic, make_backend: BackendFactory) -> None:
    fake_api.script(*[Drop(reply(ToolUse("bash", {"command": "ls"})))] * 2)
    with pytest.raises(ModelCallFailed, match=r"gave up after 2 attempts \(stream dropped: .*\)"):
        await make_backend(max_retries=1).respond(request([{"role": "user", "content": "go"}]), _nothing)


async def test_invalid_tool_json_is_kept_for_a_tool_error_and_the_session_goes_on(
    fake_api: FakeAnthropic, make_backend: BackendFactory, store: RunStore
) -> None:
    await store.register_agent("agent-1", backend="anthropic", model=MODEL)
    fake_api.script(
        reply("Listing.", ToolUse("bash", raw_json='{"command": ls -la}')),
        reply("Oops, again.", ToolUse("bash", raw_json='["ls"]')),
        reply("Fixed.", ToolUse("bash", {"command": "ls -la"})),
        reply("done"),
    )
    _messages, responses, _ = await drive(make_backend(store=store), turns=4)

    assert [r.stop_reason for r in responses] == ["tool_use", "tool_use", "tool_use", "end_turn"]
    bad = responses[0].content[1]
    assert bad["input"] == {INVALID_INPUT_KEY: '{"command": ls -la}'}
    assert responses[1].content[1]["input"] == {INVALID_INPUT_KEY: '["ls"]'}, "valid JSON that is not an object"
    assert responses[2].content[1]["input"] == {"command": "ls -la"}
    # The block goes back to the API as a valid tool_use (its input is an object) with the raw text visible.
    assert fake_api.bodies()[1]["messages"][1]["content"][1]["input"] == {INVALID_INPUT_KEY: '{"command": ls -la}'}
    await store.flush()
    notes = [e.payload.message for e in await store.latest_events(agent="agent-1") if isinstance(e.payload, RunLog)]
    assert any("invalid JSON tool input" in n and bad["id"] in n for n in notes)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (HttpError(400, "invalid_request_error", "messages: text content blocks must be non-empty"),
         "anthropic: request rejected (400 invalid_request_error: messages: text content blocks must be non-empty)"),
        (HttpError(404, "not_found_error", f"model: {MODEL}"),
         f"anthropic: model '{MODEL}' not found (404); check team.model / agents.model"),
    ],
)  # fmt: skip
async def test_non_retryable_errors_fail_at_once(
    fake_api: FakeAnthropic, make_backend: BackendFactory, error: HttpError, expected: str
) -> None:
    fake_api.script(error, reply("never"))
    with pytest.raises(ModelCallFailed) as failed:
        await make_backend().respond(request([{"role": "user", "content": "go"}]), _nothing)
    assert str(failed.value) == expected
    assert len(fake_api.requests) == 1


async def test_prompt_too_long_is_a_context_overflow(fake_api: FakeAnthropic, make_backend: BackendFactory) -> None:
    fake_api.script(HttpError(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))
    with pytest.raises(ContextOverflow, match="no longer fits the context window"):
        await make_backend().respond(request([{"role": "user", "content": "go"}]), _nothing)


async def test_refused_key_names_the_variable_not_the_key(fake_api: FakeAnthropic) -> None:
    from aar.config import AnthropicConfig
    from agents.anthropic_backend import AnthropicBackend

    backend = AnthropicBackend(
        AnthropicConfig(base_url=fake_api.base_url, api_key_env=KEY_ENV), api_key="sk-ant-wrong-key", models=[MODEL]
    )
    try:
        with pytest.raises(ModelCallFailed) as failed:
            await backend.respond(request([{"role": "user", "content": "go"}]), _nothing)
    finally:
        await backend.aclose()
    assert str(failed.value) == f"anthropic: the API key was refused (401); check ${KEY_ENV}"
    assert len(fake_api.requests) == 1
