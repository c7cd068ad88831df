"""The API key reaches the API and nothing else: not the store, the transcripts, the events or the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from aar.config import AnthropicConfig, RunConfig, TeamConfig
from aar.events import ModelText
from aar.store import RunStore
from agents.anthropic_backend import AnthropicBackend
from tests.fakes.anthropic_fixtures import API_KEY, KEY_ENV, MODEL, drive, fake_api, request
from tests.fakes.anthropic_replies import Drop, HttpError, StreamError, ToolUse, reply
from tests.fakes.anthropic_server import FakeAnthropic


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every logger (the SDK's and its HTTP client's included) at DEBUG into one file, as a verbose daemon would."""
    path = tmp_path / "logs" / "daemon.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


async def test_api_key_is_absent_from_store_transcripts_events_and_logs(
    fake_api: FakeAnthropic, tmp_path: Path, debug_log: Path
) -> None:
    config = RunConfig(
        team=TeamConfig(backend="anthropic", model=MODEL, count=1),
        anthropic=AnthropicConfig(api_key_env=KEY_ENV, base_url=fake_api.base_url, max_retries=3),
    )
    store = await RunStore.open(tmp_path / "run.db", create=True)
    await store.register_agent("agent-1", backend="anthropic", model=MODEL)
    backend = AnthropicBackend.from_config(config, store=store, env={KEY_ENV: API_KEY}, backoff_base_s=0.001)
    fake_api.script(
        HttpError(429, "rate_limit_error", headers={"retry-after-ms": "1"}),
        StreamError(),
        Drop(reply("Looking.", ToolUse("bash", {"command": "env"}))),
        reply("Looking.", ToolUse("bash", {"command": "env"})),
        reply("Bad call.", ToolUse("bash", raw_json="{nope")),
        reply("Finished."),
        reply("Summary of the session."),
    )
    try:
        messages, responses, streamed = await drive(backend, turns=5)
        for step, (message, response) in enumerate(zip(messages[1::2], responses, strict=False)):
            await store.append_messages("agent-1", step, [("assistant", message["content"])])
            await store.add_usage("agent-1", steps=1, cost_usd=response.cost_usd, **response.usage.model_dump())
        store.emit("agent-1", ModelText(step=0, text=streamed))
        await backend.compact(request(messages))
    finally:
        await backend.aclose()
        await store.close()

    # The key did travel (so the greps below could have found it had it leaked) ...
    assert all(r.headers.get("authorization") == f"Bearer {API_KEY}" for r in fake_api.requests)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    contents = {p.name: p.read_bytes() for p in files}
    assert b"Looking." in contents["run.db"] + contents.get("run.db-wal", b""), "the store holds the transcript"
    assert b"rate_limit_error" in contents["daemon.log"], "the log saw the retries"
    # ... and is in none of the run's files, in any form.
    needles = [API_KEY.encode(), API_KEY[-16:].encode(), API_KEY.encode("utf-16-le")]
    leaks = [(name, n) for name, data in contents.items() for n in needles if n in data]
    assert leaks == []
