"""Kill -9 a process running a team mid-step; resumed, each agent sends the request it would have sent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aar.config import AnthropicConfig, RunConfig, RunSection, SandboxConfig, TeamConfig, dump_config
from aar.events import ToolCalled
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.team import run_team
from tests.fakes.anthropic_fixtures import API_KEY, KEY_ENV, MODEL
from tests.fakes.anthropic_replies import Scripted, ToolUse, reply
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]


class Researcher:
    """Turn by turn: read the forum, claim an idea, start a long command; after the crash, finish."""

    def __init__(self) -> None:
        self.crashed = False

    def __call__(self, body: dict[str, Any]) -> Scripted:
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turn == 0:
            return reply("Reading the forum.", ToolUse("forum_read", {}))
        if turn == 1:
            return reply("Claiming.", ToolUse("forum_post", {"title": "Claim: filtering keep=0.7", "body": "mine"}))
        if not self.crashed:
            return reply("A long experiment.", ToolUse("bash", {"command": "echo started; sleep 60"}))
        return reply("Wrapping up.", ToolUse("finish", {"summary": "resumed and finished"}))


def _agent_of(body: dict[str, Any]) -> str:
    return "agent-1" if "You are agent-1," in str(body["system"]) else "agent-2"


@pytest.mark.slow
async def test_kill_9_mid_step_then_resume_sends_the_same_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    researcher = Researcher()
    async with FakeAnthropic(api_key=API_KEY, responder=researcher) as server:
        config = RunConfig(
            run=RunSection(name="crash"),
            team=TeamConfig(backend="anthropic", model=MODEL, count=2),
            anthropic=AnthropicConfig(base_url=server.base_url, api_key_env=KEY_ENV),
            sandbox=SandboxConfig(backend="local"),
        )
        paths = RunPaths(tmp_path / "crash-run")
        paths.make()
        paths.config.write_text(dump_config(config))
        await (await RunStore.open(paths.db, create=True)).close()  # the schema, as `aar run` makes it
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.agents.crash_team", str(paths.root)],
            cwd=ROOT,
            env={**os.environ, KEY_ENV: API_KEY},
            start_new_session=True,
        )
        store = await RunStore.open(paths.db)
        try:

            async def sleeping() -> bool:
                calls = [
                    e
                    for e in await store.events_after(0, limit=100_000)
                    if isinstance(e.payload, ToolCalled) and e.payload.tool == "bash"
                ]
                return len({e.agent for e in calls}) == 2

            await eventually(sleeping, timeout=60, interval=0.05)

            async def running() -> bool:  # each agent's command printed its first line: it is mid-step
                return len({e.agent for e in await store.events_after(0, limit=100_000, kinds=["sandbox.output"])}) == 2

            await eventually(running, timeout=60, interval=0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            before = {_agent_of(r.json()): r.body for r in server.requests if r.path.startswith("/v1/messages")}
            n_before = len(server.requests)
            rows = {a: await store.transcript(a) for a in ("agent-1", "agent-2")}
            agents = {a.name: a for a in await store.agents()}

            # Nothing of the step in flight was committed; the two before it were, with their counters.
            for name in ("agent-1", "agent-2"):
                assert [r.step for r in rows[name]] == [0, 1, 1, 2, 2]
                assert agents[name].steps == 2 and agents[name].status == "running_tool"

            researcher.crashed = True
            await run_team(RunContext(paths=paths, config=config, store=store))
            after: dict[str, bytes] = {}
            for r in server.requests[n_before:]:
                after.setdefault(_agent_of(r.json()), r.body)
            final = {a.name: a for a in await store.agents()}
        finally:
            await store.close()
            if proc.poll() is None:
                proc.kill()

    assert set(before) == set(after) == {"agent-1", "agent-2"}
    for name in ("agent-1", "agent-2"):
        assert after[name] == before[name], f"{name}: the resumed request differs from the one in flight"
        assert final[name].status == "finished" and final[name].steps == 3
