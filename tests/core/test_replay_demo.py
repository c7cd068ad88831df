"""Replay of a real run: the offline demo runs (its misbehaving researcher paused by a monitor, its claims
contradicted, methods scored), is stopped, and at random moments the state a replay shows equals the log
folded up to that moment by the simple fold below, which reads the raw rows: the leaderboard, the agents'
statuses and spend, the forum's count, the evaluator's queue, the inbox. The same with checkpoints every few
events, with one damaged, and with none; on a copy of its ``run.db``; and nothing is written."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aar import checkpoint
from aar.inbox import WAITS, Clear, NewItem, derive
from aar.lock import holder_pid
from aar.replay import Moment, state_at
from aar.runtime import RunPaths
from aar.store import EventRow, RunStore
from tests.support import aar_cli, eventually_sync, start_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
MOMENTS = 30
ENDED = ("finished", "stopped", "error", "out_of_budget")


def _query(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as raw:
            return raw.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> RunPaths:
    """The demo, run until every honest researcher has finished (agent-4 is paused by then), then stopped."""
    cwd = tmp_path_factory.mktemp("demo")
    paths = start_demo(cwd, "evaluator.seeds=1", "team.pace_s=0.05", "run.max_steps=10")
    try:
        eventually_sync(
            lambda: len(_query(paths.db, f"SELECT 1 FROM agents WHERE name != 'agent-4' AND status IN {ENDED}")) == 3,
            timeout=400,
            interval=0.5,
            what="the three honest researchers to finish",
        )
    finally:
        aar_cli("stop", paths.run_id, cwd=cwd, timeout=120)
        eventually_sync(lambda: holder_pid(paths.lock) is None, timeout=120, what="the daemon to end")
    return paths


@dataclass
class Folded:
    """The reference: what the raw event rows up to one say, folded one by one."""

    state: str = "created"
    statuses: dict[str, str] = field(default_factory=dict)
    steps: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)
    spend: dict[str, float] = field(default_factory=dict)
    posts: int = 0
    jobs: dict[int, str] = field(default_factory=dict)
    scored: list[tuple[int, float | None]] = field(default_factory=list)
    inbox: dict[int, tuple[str | None, str, str | None]] = field(default_factory=dict)
    """Open items: source event -> (agent, kind, call id)."""


def _reference(rows: list[sqlite3.Row], upto: int) -> Folded:
    out = Folded()
    for row in rows:
        if row["id"] > upto:
            break
        agent, kind, p = row["agent"], row["kind"], json.loads(row["payload"])
        if agent is not None:
            out.spend.setdefault(agent, 0.0)
        if kind == "run.state":
            out.state = p["state"]
        elif kind == "agent.status":
            out.statuses[agent] = p["status"]
        elif kind in ("agent.step", "agent.usage"):
            out.steps[agent] += kind == "agent.step"
            out.tokens[agent] += p.get("input_tokens", 0) + p.get("output_tokens", 0)
            out.spend[agent] += p.get("cost_usd", 0.0)
        elif kind == "forum.post":
            out.posts += 1
        elif kind == "eval.job":
            out.jobs[p["job_id"]] = p["status"]
        elif kind == "eval.result" and p["submission_id"] is not None:
            out.scored.append((p["submission_id"], p["pgr"]))
        _inbox(out.inbox, EventRow.read(row))
    return out


def _inbox(items: dict[int, tuple[str | None, str, str | None]], event: EventRow) -> None:
    """The inbox's rule, applied to one event: an item raised, or open waits settled."""

    def settle(rule: Clear) -> None:
        for source, (agent, kind, call) in list(items.items()):
            if agent == rule.agent and kind in rule.kinds and rule.call_id in (None, call):
                del items[source]

    effect = derive(event)
    if isinstance(effect, NewItem):
        if effect.kind in WAITS and effect.call_id is not None and event.agent is not None:
            settle(Clear(event.agent, (effect.kind,), effect.call_id))
        items[event.id] = (event.agent, effect.kind, effect.call_id)
    elif isinstance(effect, Clear):
        settle(effect)


def _compare(moment: Moment, ref: Folded, item_sources: dict[int, int]) -> None:
    at = f"at event {moment.event_id}"
    assert moment.state == ref.state, at
    assert {a.name: a.status for a in moment.agents} == {a: ref.statuses.get(a, "idle") for a in ref.spend}, at
    assert {a.name: a.steps for a in moment.agents} == {a: ref.steps[a] for a in ref.spend}, at
    assert {a.name: a.input_tokens + a.output_tokens for a in moment.agents} == {a: ref.tokens[a] for a in ref.spend}
    assert {a.name: a.cost_usd for a in moment.agents} == pytest.approx(ref.spend), at
    assert moment.spend_usd == pytest.approx(sum(ref.spend.values())), at
    assert moment.post_count == ref.posts and len(moment.posts) == ref.posts, at
    board = sorted((r.submission_id, r.pgr) for r in moment.leaderboard)
    assert board == sorted(ref.scored, key=lambda s: (s[0], s[1] or 0.0)), at
    queue = Counter("queued" if s == "retrying" else s for s in ref.jobs.values())
    assert (moment.queue.queued, moment.queue.running, moment.queue.failed) == (
        queue["queued"],
        queue["running"],
        queue["failed"],
    ), at
    shown = {item_sources[i] for row in moment.inbox for i in row.item_ids}
    assert shown == set(ref.inbox), at
    assert moment.inbox_open == len(moment.inbox), at


def _counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as raw:
        tables = [t for (t,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: raw.execute(f"SELECT COUNT(*) FROM [{t}]").fetchone()[0] for t in tables}


async def _acknowledge_one(db: Path) -> None:
    """Acknowledged now, after every event: open at every moment of the replay all the same."""
    async with await RunStore.open(db) as store:
        first, *_ = await store.inbox()
        assert await store.acknowledge([first.id], "test") >= 1


async def _moments(db: Path, ids: list[int]) -> list[Moment]:
    async with await RunStore.open(db) as store:
        return [await state_at(store, n, inbox=10_000) for n in ids]


def test_the_state_at_random_moments_of_the_demo_is_the_log_folded_to_them(demo: RunPaths, tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{demo.db}?mode=ro", uri=True)) as raw:
        raw.row_factory = sqlite3.Row
        rows = raw.execute("SELECT id, ts, agent, kind, payload FROM events ORDER BY id").fetchall()
        item_sources = dict(raw.execute("SELECT id, source_event FROM inbox").fetchall())
    last = rows[-1]["id"]
    kinds = Counter(r["kind"] for r in rows)
    assert kinds["eval.result"] and kinds["forum.post"] and kinds["monitor.decision"], "a run worth replaying"
    failures = [json.loads(r["payload"]) for r in rows if r["kind"] == "error"]
    assert not [f for f in failures if f.get("where") == "checkpoints"], "the daemon's checkpoint task ran clean"
    ids = sorted({1, last, *random.Random(24).sample(range(1, last + 1), MOMENTS)})
    asyncio.run(_acknowledge_one(demo.db))
    before = _counts(demo.db)
    plain = asyncio.run(_moments(demo.db, ids))
    assert _counts(demo.db) == before, "replay wrote nothing: no command, no event, no checkpoint"
    for moment in plain:
        _compare(moment, _reference(rows, moment.event_id), item_sources)
    assert any(m.inbox for m in plain) and any(m.leaderboard for m in plain) and any(m.queue.running for m in plain)

    copy = tmp_path / "copy"
    copy.mkdir()
    with contextlib.closing(sqlite3.connect(demo.db)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file holds every commit, as a finished run's does
    shutil.copy(demo.db, copy / "run.db")

    async def with_checkpoints() -> tuple[list[Moment], list[Moment]]:
        async with await RunStore.open(copy / "run.db") as store:
            await checkpoint.catch_up(store, every=max(last // 12, 2))
            checkpointed = [await state_at(store, n, inbox=10_000) for n in ids]
            (damaged, *_) = await store.checkpoints(upto_id=last // 2)
            await store.add_checkpoint(damaged.event_id, damaged.ts, damaged.state[: len(damaged.state) // 2])
            return checkpointed, [await state_at(store, n, inbox=10_000) for n in ids]

    checkpointed, one_damaged = asyncio.run(with_checkpoints())
    assert checkpointed == plain and one_damaged == plain, "a copy of run.db, with checkpoints, one damaged"
