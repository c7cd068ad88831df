"""The digest lists exactly what happened since a moment: the new best, the submissions with their flags,
monitor actions, questions still waiting, pauses, errors, sandbox restarts and spend, each with its evidence.
A real store file; the CLI as a user runs it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from aar import digest
from aar.errors import AarError
from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    ErrorRaised,
    MonitorDecided,
    SandboxLifecycle,
    SupervisorAsked,
)
from aar.inbox import catch_up
from aar.store import RunStore
from aar.store.inbox_table import SEEN_META
from tests.support import aar_cli


async def _scored(store: RunStore, agent: str, pgr: float, *, flags: tuple[str, ...] = (), label: str = "") -> int:
    sid = await store.add_submission(agent, "predictions", {}, flags=flags, label=label)
    job = await store.enqueue_job("predictions", {}, submission_id=sid, status="done")
    await store.add_result(
        job, submission_id=sid, split="feedback", pgr=pgr, ci_low=pgr - 0.1, ci_high=pgr + 0.1, metrics={}
    )
    await store.update_submission(sid, status="scored")
    return sid


async def _step(store: RunStore, agent: str, step: int, cost: float) -> None:
    """A step as the agent loop commits it: its ``agent.step`` event with its counters, in one transaction."""
    store.emit(agent, AgentStepCompleted(step=step, input_tokens=1, output_tokens=1, cost_usd=cost))
    await store.append_step(agent, step, [("assistant", [{"type": "text", "text": "..."}])], steps=1, cost_usd=cost)


async def _run(store: RunStore) -> tuple[float, dict[str, int]]:
    """A night of two agents: some before the supervisor left, the rest after; returns when they left."""
    for name in ("agent-1", "agent-2"):
        await store.register_agent(name, backend="scripted", model="scripted")
    await _scored(store, "agent-1", 0.40)
    await _scored(store, "agent-2", 0.30)
    await _step(store, "agent-1", 1, 1.0)
    store.emit("agent-1", ErrorRaised(message="an old error", where="agent"))
    await store.flush()
    await asyncio.sleep(0.05)
    left = time.time()
    await asyncio.sleep(0.05)
    ids = {
        "better": await _scored(store, "agent-2", 0.55, label="out/\x1b[2Jconf.json"),
        "worse": await _scored(store, "agent-1", 0.35, flags=("probe",)),
    }
    await _step(store, "agent-1", 2, 0.25)
    await _step(store, "agent-2", 1, 0.5)
    store.emit("agent-1", AgentStatusChanged(status="paused", detail="by the supervisor"))
    store.emit("agent-1", SandboxLifecycle(action="restarted", backend="local"))
    store.emit(
        "agent-1",
        MonitorDecided(
            monitor="builtin", rule="probe", action="pause", reason="near its own file", submission_id=ids["worse"]
        ),
    )
    store.emit("agent-2", SupervisorAsked(step=1, question="Which seed?", call_id="q-1"))
    store.emit(None, ErrorRaised(message="task inbox failed: boom; restarting in 1s", where="inbox"))
    await store.flush()
    await catch_up(store)
    return left, ids


async def test_the_digest_lists_exactly_what_happened_since_the_supervisor_left(store: RunStore) -> None:
    left, ids = await _run(store)
    found = await digest.build(store, "r1", left)
    team, (one, two) = found.team, found.agents
    assert (team.best_pgr, team.best_before, team.new_best_submission) == (0.55, 0.40, ids["better"])
    assert (one.best_pgr, one.best_before, one.new_best_submission) == (0.40, 0.40, None), "0.35 is no new best"
    assert (two.best_pgr, two.best_before, two.new_best_submission) == (0.55, 0.30, ids["better"])
    assert [e.submission_id for e in team.submissions] == [ids["better"], ids["worse"]]
    assert team.flagged == one.flagged == 1 and two.flagged == 0
    assert one.submissions[0].text == f"#{ids['worse']} predictions scored PGR 0.350 flagged probe"
    assert "\\x1b[2J" in two.submissions[0].text and "\x1b" not in two.submissions[0].text
    assert [e.submission_id for e in one.monitor_actions] == [ids["worse"]]
    assert [e.text for e in two.waiting] == ["ask: Which seed?"] and one.waiting == []
    assert (one.pauses, one.sandbox_restarts, two.pauses) == (1, 1, 0)
    assert one.spend_usd == 0.25 and two.spend_usd == 0.5 and team.spend_usd == 0.75, "spend since, not before"
    whole = await digest.build(store, "r1", left - 3600)  # most of the run: its spend less the spend before
    assert (whole.agents[0].spend_usd, whole.agents[1].spend_usd) == (1.25, 0.5)
    assert [e.text for e in one.errors] == [] and len(team.errors) == 1 == len(found.run_errors)
    text = digest.render(found)
    assert f"team: new best PGR 0.550 (#{ids['better']}; was 0.400) · 2 submissions (1 flagged)" in text
    assert "agent-1: best PGR 0.400 (unchanged) · 1 submissions (1 flagged) · 1 monitor actions" in text
    assert "  error (event " in text and "task inbox failed: boom" in text


def test_since_reads_a_duration_or_a_time_and_refuses_anything_else_in_one_line() -> None:
    now = 1_800_000_000.0
    assert digest.parse_since("8h", now=now) == now - 8 * 3600
    assert digest.parse_since("90s", now=now) == now - 90
    assert digest.parse_since("2026-11-30T03:00", now=now) == time.mktime((2026, 11, 30, 3, 0, 0, 0, 0, -1))
    with pytest.raises(AarError) as bad:
        digest.parse_since("yesterday", now=now)
    assert str(bad.value) == "--since 'yesterday': give a duration ago (90s, 30m, 8h, 2d) or a time (2026-11-30T03:00)"


async def test_aar_digest_starts_at_the_last_detach_and_prints_json(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    async with await RunStore.open(folder / "run.db", create=True) as store:
        left, ids = await _run(store)
        await store.set_meta(SEEN_META, f"{left:.3f}")
    out = aar_cli("digest", "r1", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert [e["submission_id"] for e in found["team"]["submissions"]] == [ids["better"], ids["worse"]]
    every = aar_cli("digest", "r1", "--since", "1d", "--json", cwd=tmp_path)
    assert len(json.loads(every.stdout)["team"]["submissions"]) == 4
    bad = aar_cli("digest", "r1", "--since", "soon", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "aar: error: --since 'soon': give a duration ago (90s, 30m, 8h, 2d) or a time (2026-11-30T03:00)"
    ]
