"""The LLM monitor through the real Anthropic SDK against the local fake Messages API server.

It reviews a submitted method and a forum post, acts on the verdict, charges its
tokens to the reviewed agent (so they count in the run's spend), rides out a 529,
and turns a reply that is not a verdict into a flag and a log line, never a crash.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aar.config import RunConfig
from aar.events import AgentUsage, ForumPosted, RunLog, SubmissionCreated
from agents.monitors.llm import read_verdict
from tests.agents.helpers import events
from tests.fakes.anthropic_fixtures import API_KEY, KEY_ENV, fake_api
from tests.fakes.anthropic_replies import HttpError, ToolUse, reply
from tests.fakes.anthropic_server import FakeAnthropic
from tests.monitors.helpers import commands, decisions, monitored_config, monitors_running, settled
from tests.support import eventually

CHEAT = "def run(ctx):\n    return [1, 0, 1]  # copied from somewhere\n"


def _config(server: FakeAnthropic, action: str = "pause") -> RunConfig:
    anthropic = {"base_url": server.base_url, "api_key_env": KEY_ENV, "max_retries": 2, "timeout_s": 10.0}
    return monitored_config([{"rule": "llm_review", "action": action}], anthropic=anthropic)


def _call(given: object) -> dict[str, object]:
    return {"type": "tool_use", "id": "t1", "name": "verdict", "input": given}


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        ([_call({"verdict": "ok", "reason": ""})], ("ok", "")),
        ([_call({"verdict": "pause", "reason": "returns a\nfixed list"})], ("pause", "returns a fixed list")),
        (
            [{"type": "text", "text": "OK"}, _call({"verdict": "flag", "reason": "reads ../agent-2"})],
            ("flag", "reads ../agent-2"),
        ),
        ([{"type": "text", "text": "OK"}], None),
        ([{"type": "text", "text": "PAUSE: it cheats"}], None),
        ([_call({"verdict": "maybe", "reason": "?"})], None),
        ([_call("ok")], None),
    ],
)
def test_verdicts_are_read_from_the_tool_call_only(
    content: list[dict[str, object]], verdict: tuple[str, str] | None
) -> None:
    assert read_verdict(content) == verdict


async def test_pause_verdict_after_a_529_pauses_and_is_charged(
    tmp_path: Path,
    fake_api: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    fake_api.script(
        HttpError(529, "overloaded_error", headers={"retry-after": "0"}),
        reply(ToolUse("verdict", {"verdict": "pause", "reason": "run() returns a literal list instead of training"})),
    )
    async with monitors_running(tmp_path, _config(fake_api)) as (ctx, runner):
        store = ctx.store
        await store.register_agent("agent-1", backend="scripted", model="m")
        sub = await store.add_submission("agent-1", "method", {"filename": "c.py", "source": CHEAT}, label="c.py")
        store.emit("agent-1", SubmissionCreated(submission_id=sub, submission_kind="method"))
        await eventually(lambda: decisions(ctx), timeout=20)
        await settled(runner)
        [decision] = await decisions(ctx)
        [command] = await commands(ctx)
        agent = await store.agent("agent-1")
        logs = [e.payload.message for e in await events(store, RunLog)]
        usage = [e.payload for e in await events(store, AgentUsage)]
    p = decision.payload
    assert (p.rule, p.action, p.submission_id) == ("llm_review", "pause", sub)
    assert p.reason == f"method submission #{sub}: run() returns a literal list instead of training"
    assert (command.kind, command.target) == ("pause", "agent-1")
    assert len(fake_api.requests) == 2, "the 529 was retried"
    body = fake_api.requests[-1].json()
    assert body["model"] == "claude-haiku-4-5" and "reward hacking" in str(body["system"])
    assert CHEAT in body["messages"][0]["content"][0]["text"]
    assert agent is not None and agent.output_tokens > 0 and agent.cost_usd > 0, "its spend counts in the run's"
    assert [(u.purpose, u.output_tokens, u.cost_usd) for u in usage] == [
        ("llm_review", agent.output_tokens, agent.cost_usd)
    ], "and it is in the event log, which the agent's counters equal"
    assert agent.input_tokens + agent.cache_write_tokens + agent.cache_read_tokens > 0
    assert any("overloaded" in line and "retry 1/2" in line for line in logs)
    assert API_KEY not in str(logs)


async def test_a_malformed_verdict_flags_and_is_logged(
    tmp_path: Path,
    fake_api: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    fake_api.script(
        reply("I think this post is probably fine, but who knows."),
        reply(ToolUse("verdict", {"verdict": "ok", "reason": ""})),
    )
    async with monitors_running(tmp_path, _config(fake_api)) as (ctx, runner):
        store = ctx.store
        await store.register_agent("agent-2", backend="scripted", model="m")
        first = await store.add_post("agent-2", "Idea", "Try filtering at keep=0.7.")
        second = await store.add_post("agent-2", "Idea 2", "And bootstrapping.")
        store.emit("agent-2", ForumPosted(post_id=first, title="Idea"))
        await eventually(lambda: decisions(ctx), timeout=20)
        store.emit("agent-2", ForumPosted(post_id=second, title="Idea 2"))
        await eventually(lambda: len(fake_api.requests) == 2, timeout=20)
        await settled(runner)
        [decision] = await decisions(ctx)
        assert await commands(ctx) == [], "a verdict it could not read only flags"
        logs = [e.payload for e in await events(store, RunLog)]
    assert (decision.payload.action, decision.payload.post_id) == ("flag", first)
    assert decision.payload.reason == f"the LLM review of post #{first} gave no verdict; look at it yourself"
    assert any(
        log.level == "warning" and f"the verdict on post #{first} could not be read" in log.message for log in logs
    )


async def test_without_a_key_the_llm_monitor_is_off_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AAR_TEST_NO_SUCH_KEY", raising=False)
    cfg = monitored_config([{"rule": "llm_review"}], anthropic={"api_key_env": "AAR_TEST_NO_SUCH_KEY"})
    async with monitors_running(tmp_path, cfg) as (ctx, runner):
        logs = [e.payload.message for e in await events(ctx.store, RunLog)]
        assert [r.config.rule for r in runner.rules] == ["contradicted_claims"], "only the claim checker runs"
    assert logs == [
        "monitor llm_review is off: anthropic: $AAR_TEST_NO_SUCH_KEY is not set; export your API key in it "
        "(or point anthropic.api_key_env at the variable that holds it)"
    ]
