"""Pytest fixtures for the Anthropic backend tests: the fake API and backends pointed at it.

Import the fixtures you use into a test module (``from tests.fakes.anthropic_fixtures import fake_api``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aar.config import AnthropicConfig
from aar.store import RunStore
from agents.anthropic_backend import AnthropicBackend
from agents.backend import ModelRequest, ModelResponse
from tests.fakes.anthropic_server import FakeAnthropic

API_KEY = f"sk-ant-api03-FAKE-{secrets.token_hex(12)}"
"""A key unique to this test session, so a grep for it finds only real leaks."""
KEY_ENV = "AAR_TEST_ANTHROPIC_KEY"
MODEL = "claude-sonnet-4-6"

BASH_TOOL: dict[str, Any] = {
    "name": "bash",
    "description": "Run a shell command in your sandbox.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}
FORUM_TOOL: dict[str, Any] = {
    "name": "forum_read",
    "description": "Read the newest forum posts.",
    "input_schema": {"type": "object", "properties": {"limit": {"type": "integer"}}},
}
TOOLS = [BASH_TOOL, FORUM_TOOL]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key=API_KEY) as server:
        yield server


BackendFactory = Callable[..., AnthropicBackend]


@pytest.fixture
async def make_backend(fake_api: FakeAnthropic) -> AsyncIterator[BackendFactory]:
    """Build backends on the fake API: ``make_backend(max_retries=3, store=store)``; closed after the test."""
    made: list[AnthropicBackend] = []

    def build(*, store: RunStore | None = None, **config: Any) -> AnthropicBackend:
        settings = {
            "base_url": fake_api.base_url,
            "api_key_env": KEY_ENV,
            "max_retries": 4,
            "timeout_s": 10.0,
            **config,
        }
        backend = AnthropicBackend(
            AnthropicConfig(**settings), api_key=API_KEY, store=store, models=[MODEL], backoff_base_s=0.001
        )
        made.append(backend)
        return backend

    yield build
    for backend in made:
        await backend.aclose()


SYSTEM = "You are a test researcher."


def request(messages: list[dict[str, Any]], *, agent: str = "agent-1", system: str = SYSTEM) -> ModelRequest:
    return ModelRequest(agent=agent, model=MODEL, system=system, messages=messages, tools=TOOLS)


async def drive(
    backend: AnthropicBackend, *, turns: int, agent: str = "agent-1"
) -> tuple[list[dict[str, Any]], list[ModelResponse], str]:
    """What a minimal loop does: call, record the turn, answer each tool call; returns messages, responses, streamed text."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Begin."}]
    responses: list[ModelResponse] = []
    streamed: list[str] = []

    async def on_text(chunk: str) -> None:
        streamed.append(chunk)

    for _ in range(turns):
        response = await backend.respond(request(messages, agent=agent), on_text)
        responses.append(response)
        messages.append({"role": "assistant", "content": response.content})
        calls = [b for b in response.content if b["type"] == "tool_use"]
        if not calls:
            break
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c["id"], "content": f"{c['name']} ok"} for c in calls
                ],
            }
        )
    return messages, responses, "".join(streamed)
