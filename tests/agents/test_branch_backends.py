"""A branch's first model call, through the two real backends: the scripted researcher (which reads the
guidance as the supervisor's and says so) and the Anthropic SDK against the fake Messages API (a finished
agent branched in a stopped run, made when the team starts again). Each holds the parent's transcript up to
the step, then the guidance, and nothing after the step."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aar.commands import Branch
from aar.config import AnthropicConfig, RunConfig, RunSection, SandboxConfig, TeamConfig
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.backend import ModelBackend, ModelRequest, ModelResponse, TextCallback
from agents.branching import GUIDANCE_MARK
from agents.team import make_backend, run_team
from agents.transcript import blocks
from tests.agents.helpers import run_context
from tests.fakes.anthropic_fixtures import API_KEY, KEY_ENV, MODEL, fake_api
from tests.fakes.anthropic_replies import ToolUse, reply
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import eventually

GUIDANCE = "Stop reading; claim the confidence loss now."


class Recording:
    """The real backend of a kind, with every request it was sent kept."""

    def __init__(self, inner: ModelBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[ModelRequest] = []

    async def respond(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        self.requests.append(request)
        return await self.inner.respond(request, on_text)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def of(self, agent: str) -> list[ModelRequest]:
        return [r for r in self.requests if r.agent == agent]


def _plain(content: Any) -> list[dict[str, Any]]:
    """Content blocks without the prompt-cache marks a backend adds to the newest ones."""
    return [{k: v for k, v in b.items() if k != "cache_control"} for b in blocks(content)]


@pytest.mark.timeout(60)
async def test_a_scripted_researchers_branch_reads_the_parents_past_and_the_guidance(tmp_path: Path) -> None:
    cfg = RunConfig.model_validate(
        {
            "run": {"name": "t", "snapshot_every_min": 0.0001},
            "team": {"count": 1, "backend": "scripted", "pace_s": 0.05},
            "sandbox": {"backend": "local", "exec_timeout_s": 60},
        }
    )
    recorded: dict[str, Recording] = {}

    def factory(kind: str, config: RunConfig, store: RunStore) -> ModelBackend:
        recorded[kind] = Recording(make_backend(kind, config, store))
        return recorded[kind]

    async with run_context(tmp_path, cfg) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory))
        try:
            await eventually(lambda: _steps(ctx, "agent-1", 2), what="agent-1's second step", timeout=30)
            await ctx.store.issue_command(Branch(step=1, guidance=GUIDANCE), "agent-1")
            backend = recorded["scripted"]
            await eventually(lambda: _steps(ctx, "agent-1-b1", 1), what="the branch's first step", timeout=30)
            after_one = next(r for r in backend.of("agent-1") if _turns(r) == 1)
            first = backend.of("agent-1-b1")[0]
            assert first.messages[:-1] == after_one.messages[:-1]
            assert first.messages[-1]["content"][:-1] == after_one.messages[-1]["content"]
            guidance = first.messages[-1]["content"][-1]["text"]
            assert guidance.startswith(GUIDANCE_MARK) and guidance.endswith(GUIDANCE)
            assert _turns(first) == 1, "nothing of agent-1's later steps"
            # The researcher reads it as the supervisor's message: its first step answers it.
            replied = [m for m in await ctx.store.transcript("agent-1-b1") if m.step == 2 and m.role == "assistant"]
            assert replied and "The supervisor says" in str(replied[0].content), replied
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 20)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_claude_agents_branch_through_the_fake_messages_api(
    fake_api: FakeAnthropic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    fake_api.script(
        reply("Reading.", ToolUse("forum_read", {})),
        reply("Reading the board.", ToolUse("leaderboard", {})),
        reply("Reading again.", ToolUse("forum_read", {"limit": 3})),
        reply("Done.", ToolUse("finish", {"summary": "read everything"})),
    )
    config = RunConfig(
        run=RunSection(name="claude", snapshot_every_min=0.0001),
        team=TeamConfig(backend="anthropic", model=MODEL, count=1),
        anthropic=AnthropicConfig(base_url=fake_api.base_url, api_key_env=KEY_ENV, max_retries=0),
        sandbox=SandboxConfig(backend="local"),
    )
    paths = RunPaths(tmp_path / "claude-run")
    paths.make()
    store = await RunStore.open(paths.db, create=True)
    try:
        ctx = RunContext(paths=paths, config=config, store=store)
        await run_team(ctx)  # agent-1 finishes after four steps; the team ends
        parent = [m.model_dump() for m in await store.transcript("agent-1")]
        await store.issue_command(Branch(step=2, guidance=GUIDANCE), "agent-1")
        fake_api.script(reply("Following the guidance.", ToolUse("finish", {"summary": "claimed"})))
        await run_team(RunContext(paths=paths, config=config, store=store))  # makes the branch, which finishes
        branch = await store.agent("agent-1-b1")
        assert branch is not None and branch.status == "finished" and branch.lineage == "agent-1@2"
        assert [m.model_dump() for m in await store.transcript("agent-1")] == parent
    finally:
        await store.close()

    bodies = fake_api.bodies()
    assert len(bodies) == 5 and fake_api.pending == 0
    after_two, first = bodies[2], bodies[4]
    assert [m["role"] for m in first["messages"]] == [m["role"] for m in after_two["messages"]]
    for mine, theirs in zip(first["messages"][:-1], after_two["messages"][:-1], strict=True):
        assert _plain(mine["content"]) == _plain(theirs["content"])
    last = _plain(first["messages"][-1]["content"])
    assert last[:-1] == _plain(after_two["messages"][-1]["content"])
    assert last[-1]["type"] == "text" and last[-1]["text"].startswith(GUIDANCE_MARK)
    assert last[-1]["text"].endswith(GUIDANCE)
    assert "Reading again." not in str(first), "nothing of agent-1's steps after the second"


def _turns(request: ModelRequest) -> int:
    return sum(1 for m in request.messages if m["role"] == "assistant")


async def _steps(ctx: RunContext, agent: str, steps: int) -> bool:
    row = await ctx.store.agent(agent)
    return row is not None and row.steps >= steps
