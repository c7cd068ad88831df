"""Replay on a real SQLite store: reading a moment (each form, each bad input in one line), the state at an
event from the checkpoints or without them, the inbox as of then, the checkpoint task, and a replay that
writes nothing on a crashed run and on a copied ``run.db``."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aar import checkpoint
from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    AgentUsage,
    ApprovalRequested,
    EvalJobChanged,
    EvalScored,
    EventPayload,
    ForumPosted,
    ModelText,
    MonitorDecided,
    RunStateChanged,
    SubmissionCreated,
    SupervisorAsked,
    ToolReturned,
)
from aar.inbox import catch_up as fold_inbox
from aar.replay import Moment, MomentError, MomentSpec, Queue, parse_at, resolve, state_at
from aar.runtime import RunPaths
from aar.store import RunStore
from aar.store.schema import MIGRATIONS, SCHEMA_VERSION
from tui.service import RunClient

START = 1_800_000_000.0
"""The synthetic run's first event (2027-01-15 08:00 UTC)."""
END = START + 2 * 3600 + 14 * 60 + 5


# ------------------------------------------------------------ reading a moment


@pytest.mark.parametrize(
    ("text", "offset"),
    [("3h", 3 * 3600), ("90m", 90 * 60), ("45s", 45), ("1h30m", 5400), ("0s", 0), ("2h14m5s", END - START)],
)
def test_an_offset_counts_from_the_run_start(text: str, offset: float) -> None:
    spec = parse_at(text, start_ts=START, end_ts=None, now=START + 4 * 3600)
    assert spec == MomentSpec(text, ts=START + offset)


def test_a_time_is_local_unless_it_says_its_offset() -> None:
    local = datetime.fromtimestamp(START + 600)
    text = local.strftime("%Y-%m-%dT%H:%M")
    assert parse_at(text, start_ts=START, end_ts=END, now=END).ts == datetime.fromisoformat(text).timestamp()
    utc = datetime.fromtimestamp(START + 60, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_at(utc, start_ts=START, end_ts=END, now=END).ts == START + 60
    plus_one = datetime.fromtimestamp(START + 120, tz=timezone(timedelta(hours=1))).isoformat()
    assert parse_at(plus_one, start_ts=START, end_ts=END, now=END).ts == START + 120


def test_an_event_is_named_by_its_id() -> None:
    assert parse_at(" event:123456 ", start_ts=START, end_ts=END, now=END) == MomentSpec(
        "event:123456", event_id=123456
    )


@pytest.mark.parametrize(
    ("text", "end", "said"),
    [
        ("3x", END, r"^'3x' is not a moment: give an offset from the run's start \(3h, 90m, 45s, 1h30m\), a time"),
        ("yesterday", END, r"^'yesterday' is not a moment: give .* or an event \(event:123456\)$"),
        ("event:", END, r"^'event:' is not a moment"),
        ("", END, r"^'' is not a moment"),
        ("3h", END, r"^3h is after the run ended \(2h14m after its start, .*\); give an earlier moment$"),
        ("2027-01-01T00:00", END, r"^2027-01-01T00:00 is before the run started \(.*\); give a later moment$"),
        ("5h", None, r"^5h is in the future \(it is .*\); give an earlier moment$"),
    ],
)
def test_each_bad_moment_is_one_line_that_says_what_to_give(text: str, end: float | None, said: str) -> None:
    with pytest.raises(MomentError, match=said) as raised:
        parse_at(text, start_ts=START, end_ts=end, now=START + 4 * 3600)
    assert "\n" not in str(raised.value)


async def _timed(store: RunStore, events: list[tuple[float, str | None, EventPayload]]) -> None:
    """Write events with the times given (the store stamps ``emit`` with the wall clock)."""
    await store._db.executemany(
        "INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)",
        [(ts, agent, p.kind, p.model_dump_json()) for ts, agent, p in events],
    )


async def test_a_time_resolves_to_the_last_event_at_or_before_it(store: RunStore) -> None:
    await _timed(store, [(START + i * 10, "ann", ModelText(step=1, text=str(i))) for i in range(6)])
    at = {
        text: await resolve(store, parse_at(text, start_ts=START, end_ts=START + 50, now=0))
        for text in ["0s", "9s", "10s", "35s", "50s"]
    }
    assert at == {"0s": 1, "9s": 1, "10s": 2, "35s": 4, "50s": 6}
    assert await resolve(store, MomentSpec("event:3", event_id=3)) == 3
    with pytest.raises(MomentError, match=r"^event:7: this run has no event #7 \(its events are #1 to #6\)$"):
        await resolve(store, MomentSpec("event:7", event_id=7))
    with pytest.raises(MomentError, match="no event #0"):
        await resolve(store, MomentSpec("event:0", event_id=0))


# ------------------------------------------------------------ the state at an event


async def _run(store: RunStore) -> None:
    """Three agents over 30 events: steps and usage, statuses, posts, jobs, an approval and a question."""
    for name in ("ann", "bob", "cy"):
        await store.register_agent(name, backend="scripted", model="m")
    post = await store.add_post("ann", "first", "a result")
    events: list[tuple[float, str | None, EventPayload]] = [
        (START, None, RunStateChanged(state="starting")),
        (START + 1, None, RunStateChanged(state="running")),
        (START + 2, "ann", AgentStatusChanged(status="thinking")),
        (START + 3, "ann", AgentStepCompleted(step=1, input_tokens=100, output_tokens=10, cost_usd=0.1)),
        (START + 4, "ann", ForumPosted(post_id=post, title="first")),
        (START + 5, "bob", AgentStatusChanged(status="thinking")),
        (START + 6, "bob", ApprovalRequested(call_id="c1", tool="bash", input={"command": "ls"})),
        (START + 7, "bob", AgentStatusChanged(status="waiting_approval")),
        (START + 8, None, EvalJobChanged(job_id=1, job_kind="baselines", status="queued")),
        (START + 9, None, EvalJobChanged(job_id=1, job_kind="baselines", status="running")),
        (START + 10, "ann", AgentUsage(purpose="compaction", input_tokens=7, cost_usd=0.2)),
        (START + 11, "ann", MonitorDecided(monitor="builtin", rule="loops", action="flag", reason="again")),
        (START + 12, "bob", ToolReturned(step=1, call_id="c1", tool="bash", ok=True, output="")),
        (START + 13, "bob", AgentStatusChanged(status="running_tool")),
        (START + 14, None, EvalJobChanged(job_id=1, job_kind="baselines", status="done")),
        (START + 15, "bob", AgentStepCompleted(step=1, input_tokens=50, output_tokens=5, cost_usd=0.3)),
        (START + 16, "ann", SupervisorAsked(step=2, question="GPU?", call_id="q1")),
        (START + 17, "ann", AgentStatusChanged(status="paused")),
        (START + 18, None, EvalJobChanged(job_id=2, job_kind="method", status="failed")),
    ]
    events += [(START + 19 + i, "bob", ModelText(step=2, text=f"t{i}")) for i in range(8)]
    events += [
        (START + 27, "ann", AgentStatusChanged(status="thinking")),
        (START + 28, "ann", AgentStepCompleted(step=2, input_tokens=1, cost_usd=0.05)),
        (START + 29, None, RunStateChanged(state="finished")),
    ]
    await _timed(store, events)
    await fold_inbox(store)


async def test_the_state_at_an_event_is_the_log_folded_up_to_it(store: RunStore) -> None:
    await _run(store)
    assert (await state_at(store, 4)).post_count == 0, "the post was announced by event 5"
    early = await state_at(store, 5)
    assert (early.state, [a.name for a in early.agents], early.post_count) == ("running", ["ann"], 1)
    assert (early.agents[0].status, early.agents[0].steps, early.agents[0].cost_usd) == ("thinking", 1, 0.1)
    assert early.events[0].id == 1 and early.events[-1].id == 5 and early.ts == START + 4

    waiting = await state_at(store, 12)
    ann, bob = waiting.agents
    assert (ann.input_tokens, ann.steps) == (107, 1), "usage counts, though not as a step"
    assert ann.cost_usd == pytest.approx(0.3)
    assert (bob.status, waiting.queue) == ("waiting_approval", Queue(running=1))
    assert {(r.kind, r.agent) for r in waiting.inbox} == {("approval", "bob"), ("monitor", "ann")}
    assert waiting.inbox_open == 2

    late = await state_at(store, 19)
    assert {(r.kind, r.agent) for r in late.inbox} == {("ask", "ann"), ("monitor", "ann"), ("eval_failed", None)}
    assert late.queue == Queue(failed=1), "the done job left the queue; the failed one counts"
    assert [(a.name, a.status) for a in late.agents] == [("ann", "paused"), ("bob", "running_tool")]
    assert late.spend_usd == pytest.approx(0.6)

    end = await state_at(store, 30)
    assert end.state == "finished" and end.agents[0].status == "thinking"
    assert {r.kind for r in end.inbox} == {"monitor", "eval_failed"}, "the question was answered: ann went on"
    assert len(end.events) == 30 and "cy" not in [a.name for a in end.agents], "cy never started"


async def test_the_leaderboard_and_the_flagged_then_are_what_the_log_had_announced(store: RunStore) -> None:
    await store.register_agent("ann", backend="scripted", model="m")
    probe = await store.add_submission("ann", "predictions", {}, flags=["probe"])
    method = await store.add_submission("ann", "method", {})
    broken = await store.add_submission("ann", "predictions", {})
    scored = await store.enqueue_job("method", {}, submission_id=method)
    failed = await store.enqueue_job("predictions", {}, submission_id=broken)
    await store.add_result(scored, submission_id=method, split="feedback", pgr=0.4, ci_low=0.3, ci_high=0.5, metrics={})
    await store.update_submission(probe, status="scored")
    await store.update_submission(method, status="scored", flags=["majority"])  # its outputs, once scored
    await store.update_submission(broken, status="failed")
    await _timed(
        store,
        [
            (START, "ann", SubmissionCreated(submission_id=probe, submission_kind="predictions", flags=["probe"])),
            (START + 1, "ann", SubmissionCreated(submission_id=method, submission_kind="method")),
            (START + 2, "ann", EvalJobChanged(job_id=scored, job_kind="method", status="running")),
            (START + 3, "ann", SubmissionCreated(submission_id=broken, submission_kind="predictions")),
            (START + 4, "ann", EvalJobChanged(job_id=failed, job_kind="predictions", status="failed")),
            (START + 5, "ann", EvalJobChanged(job_id=scored, job_kind="method", status="done")),
            (START + 6, "ann", EvalScored(job_id=scored, submission_id=method, pgr=0.4, ci_low=0.3, ci_high=0.5)),
        ],
    )
    flagged = {n: [(s.id, s.status, s.flags) for s in (await state_at(store, n)).flagged] for n in (1, 4, 5, 7)}
    assert flagged[1] == [(probe, "running", ["probe"])], "not scored yet: the flags it was announced with"
    assert flagged[4] == [(probe, "running", ["probe"])], "the method was neither flagged nor scored then"
    assert flagged[5] == [(probe, "running", ["probe"]), (broken, "failed", [])]
    assert flagged[7] == [(probe, "running", ["probe"]), (method, "scored", ["majority"]), (broken, "failed", [])]
    assert (await state_at(store, 6)).leaderboard == [], "the result was written before the daemon announced it"
    assert [(r.submission_id, r.pgr) for r in (await state_at(store, 7)).leaderboard] == [(method, 0.4)]


async def test_checkpoints_present_deleted_or_damaged_give_the_same_moment(store: RunStore) -> None:
    await _run(store)
    plain = [await state_at(store, n) for n in range(1, 31)]
    assert await checkpoint.catch_up(store, every=4) == 7
    assert [c.event_id for c in await store.checkpoints(upto_id=30, limit=100)] == [28, 24, 20, 16, 12, 8, 4]
    assert [await state_at(store, n) for n in range(1, 31)] == plain
    await store._db.execute('UPDATE checkpoints SET state = \'{"version": 1, "event\' WHERE event_id = 16')
    await store._db.execute(
        "UPDATE checkpoints SET state = json_set(state, '$.version', 2) WHERE event_id = 24"
    )  # a newer aar's
    assert [await state_at(store, n) for n in range(1, 31)] == plain
    await store._db.execute("DELETE FROM checkpoints")
    assert [await state_at(store, n) for n in range(1, 31)] == plain


async def test_a_checkpoint_that_disagrees_with_the_log_is_what_a_jump_starts_from(store: RunStore) -> None:
    """The proof that a jump reads the checkpoint rather than folding everything again."""
    await _run(store)
    await checkpoint.catch_up(store, every=20)
    await store._db.execute(
        "UPDATE checkpoints SET state = json_set(state, '$.agents.ann.steps', 99) WHERE event_id = 20"
    )
    assert (await state_at(store, 19)).agents[0].steps == 1
    assert (await state_at(store, 25)).agents[0].steps == 99


async def test_the_inbox_then_leaves_out_what_was_acknowledged_later(store: RunStore) -> None:
    await _run(store)
    (monitor,) = [i for i in await store.inbox() if i.kind == "monitor"]
    await store.acknowledge([monitor.id], "me")
    await store._db.execute("UPDATE inbox_acks SET ts = ?", (START + 20.5,))
    assert "monitor" in {r.kind for r in (await state_at(store, 21)).inbox}, "acknowledged after event 21"
    assert "monitor" not in {r.kind for r in (await state_at(store, 22)).inbox}
    rows = (await state_at(store, 12)).inbox
    assert {r.kind for r in rows} == {"approval", "monitor"}
    assert all(r.is_open for r in rows), "the settlement and the acknowledgement that came later are unsaid"


async def test_the_inbox_past_the_builders_cursor_is_derived_from_the_log(store: RunStore) -> None:
    await _run(store)
    folded = {n: await state_at(store, n) for n in (6, 9, 12, 13, 18, 19, 28, 30)}
    await store._db.execute("DELETE FROM inbox")
    await store._db.execute("DELETE FROM meta WHERE key = 'inbox_cursor'")
    await store.fold_inbox(await store.events_after(0, limit=9))  # a builder that folded the first 9 only
    assert await store.inbox_cursor() == 9
    for n, moment in folded.items():
        derived = await state_at(store, n)
        assert {(r.source_event, r.kind) for r in derived.inbox} == {(r.source_event, r.kind) for r in moment.inbox}
        assert derived.inbox_open == moment.inbox_open


# ------------------------------------------------------------ the checkpoint task


async def test_the_checkpoint_task_writes_every_n_events_and_catches_up_after_a_restart(store: RunStore) -> None:
    for name in ("ann", "bob"):
        await store.register_agent(name, backend="scripted", model="m")
    for i in range(2500):
        store.emit("ann", AgentStepCompleted(step=i, input_tokens=1, cost_usd=0.001))
    await store.flush()
    stop = asyncio.Event()
    stop.set()  # one pass, then the last catch-up, as at shutdown
    await checkpoint.follow(store, stop, every=1000)
    assert [c.event_id for c in await store.checkpoints(upto_id=10**6)] == [2000, 1000]
    for _ in range(2600):  # the daemon was down meanwhile; the next one catches up
        store.emit("bob", AgentStatusChanged(status="thinking"))
    await store.flush()
    await store._db.execute("UPDATE checkpoints SET state = 'damaged' WHERE event_id = 2000")
    await checkpoint.follow(store, stop, every=1000)
    rows = await store.checkpoints(upto_id=10**6)
    assert [c.event_id for c in rows] == [5000, 4000, 3000, 2000, 1000]
    for row in rows:
        stored = checkpoint.read(row)
        assert stored is not None and row.ts == (await store.latest_events(1, upto_id=row.event_id))[0].ts
        await store._db.execute("DELETE FROM checkpoints WHERE event_id = ?", (row.event_id,))
        assert stored == await checkpoint.fold_to(store, row.event_id), "a checkpoint is the fold from the start"
        await store.add_checkpoint(row.event_id, row.ts, row.state)
    assert checkpoint.read(rows[0]) == checkpoint.Folded(
        event_id=5000,
        agents={
            "ann": checkpoint.Tally(steps=2500, input_tokens=2500, cost_nusd=2_500_000_000),
            "bob": checkpoint.Tally(status="thinking"),
        },
    )


# ------------------------------------------------------------ where replay works, and what it writes


def _counts(db: Path) -> dict[str, object]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        tables = [t for (t,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out: dict[str, object] = {t: raw.execute(f"SELECT COUNT(*) FROM [{t}]").fetchone()[0] for t in tables}
        out["meta"] = raw.execute("SELECT * FROM meta ORDER BY key").fetchall()
        return out


async def _crashed(tmp_path: Path) -> RunPaths:
    """A run whose daemon died: its store says running, no daemon holds its lock."""
    paths = RunPaths(tmp_path / "crashed")
    paths.make()
    async with await RunStore.open(paths.db, create=True) as store:
        await store.set_meta("state", "running")
        await _run(store)
        await store._db.execute("DELETE FROM events WHERE id = 30")  # it never finished
    return paths


async def test_replay_works_on_a_crashed_run_and_writes_nothing(tmp_path: Path) -> None:
    paths = await _crashed(tmp_path)
    before = _counts(paths.db)
    client = await RunClient.open(paths.root)
    try:
        assert await client.resolve_at("event:12") == 12
        assert await client.resolve_at("25s") == 26
        with pytest.raises(MomentError, match=r"^1h is after the run ended \(28s after its start"):
            await client.resolve_at("1h")  # crashed: the run ended at its last event
        update = await client.moment(29)
        changes = client.store._db.total_changes  # type: ignore[attr-defined]
        assert update.state == "running" and [a.name for a in update.agents] == ["ann", "bob"]
        assert update.queue is not None and update.queue.failed == 1 and update.inbox_open == 2
        assert client.last_event_id == 0, "the live follow is left where it was"
    finally:
        await client.store.close()
    assert changes == 0
    assert _counts(paths.db) == before, "replay wrote nothing: no command, no event, no row"


async def test_replay_works_on_a_copied_run_db(tmp_path: Path) -> None:
    paths = await _crashed(tmp_path)
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    shutil.copy(paths.db, copy / "run.db")
    moments: list[Moment] = []
    for where in (paths.db, copy / "run.db"):
        async with await RunStore.open(where) as store:
            moments.append(await state_at(store, 18))
    assert moments[0] == moments[1]
    client = await RunClient.open(copy)
    try:
        assert (await client.moment(await client.resolve_at("event:18"))).agents == moments[0].agents
    finally:
        await client.store.close()


async def test_a_store_of_schema_10_gains_the_checkpoints_table(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with sqlite3.connect(db) as raw:
        for step in MIGRATIONS[:10]:
            raw.executescript(step)
        raw.execute("PRAGMA user_version = 10")
    async with await RunStore.open(db) as store:
        await _run(store)
        assert await checkpoint.catch_up(store, every=10) == 3
        assert (await state_at(store, 25)).agents[0].steps == 1
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 11
