"""The run store on a real SQLite file: ordering, batching, readers, migrations."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aar.commands import Redirect
from aar.errors import StoreError
from aar.events import AgentStatusChanged, AgentStepCompleted, AgentUsage, RunLog, SandboxOutput
from aar.store import RunStore
from aar.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.support import eventually, found


async def test_events_are_ordered_and_parse_back(store: RunStore) -> None:
    for i in range(10):
        store.emit(f"a{i % 2}", SandboxOutput(call_id="c", stream="stdout", text=f"line {i}\n"))
    last = await store.flush()
    assert last == 10
    rows = await store.events_after(0)
    assert [r.id for r in rows] == list(range(1, 11))
    assert [r.payload for r in rows] == [
        SandboxOutput(call_id="c", stream="stdout", text=f"line {i}\n") for i in range(10)
    ]
    assert [r.id for r in await store.events_after(4, limit=3)] == [5, 6, 7]
    assert [r.id for r in await store.events_after(0, agent="a1")] == [2, 4, 6, 8, 10]
    assert [r.id for r in await store.latest_events(3)] == [8, 9, 10]
    assert [r.id for r in await store.latest_events(2, agent="a0")] == [7, 9]


async def test_emit_commits_within_the_flush_interval(tmp_path: Path) -> None:
    writer = await RunStore.open(tmp_path / "run.db", create=True, flush_interval=0.02)
    reader = await RunStore.open(tmp_path / "run.db")
    try:
        writer.emit(None, RunLog(message="hello"))
        assert await reader.event_count() == 0  # buffered, not yet committed
        await eventually(reader.event_count, what="the buffered event to commit with no flush asked for")
        assert [r.payload for r in await reader.events_after(0)] == [RunLog(message="hello")]
    finally:
        await writer.close()
        await reader.close()


async def test_close_commits_the_buffer(tmp_path: Path) -> None:
    writer = await RunStore.open(tmp_path / "run.db", create=True, flush_interval=60)
    writer.emit("x", AgentStatusChanged(status="paused"))
    await writer.close()
    with sqlite3.connect(tmp_path / "run.db") as raw:
        assert raw.execute("SELECT kind FROM events").fetchall() == [("agent.status",)]


async def test_a_step_commits_with_the_events_emitted_before_it(tmp_path: Path) -> None:
    """A daemon killed right after a step commits keeps the step's events too: the agents table's spend and
    the agent.step events never disagree (the chaos bench found them apart after kill -9)."""
    writer = await RunStore.open(tmp_path / "run.db", create=True, flush_interval=60)
    try:
        await writer.register_agent("ann", backend="scripted", model="m")
        completed = AgentStepCompleted(step=1, input_tokens=10, output_tokens=2, cost_usd=0.25)
        await writer.append_step("ann", 1, [("assistant", "hi"), ("user", "ok")], completed)
        writer.emit("ann", RunLog(message="after the step"))  # buffered: not part of the step
        with sqlite3.connect(tmp_path / "run.db") as raw:  # what a crash now would leave on disk
            kinds = raw.execute("SELECT kind, json_extract(payload, '$.cost_usd') FROM events").fetchall()
            spent = raw.execute("SELECT cost_usd FROM agents WHERE name = 'ann'").fetchall()
        assert kinds == [("agent.step", 0.25)] and spent == [(0.25,)]
    finally:
        await writer.close()
    with sqlite3.connect(tmp_path / "run.db") as raw:
        assert [k for (k,) in raw.execute("SELECT kind FROM events ORDER BY id")] == ["agent.step", "log"]


async def test_a_step_event_never_commits_in_a_batch_of_the_flusher_s_own(tmp_path: Path) -> None:
    """The step's agent.step event is not left in the buffer, where the store's flusher could take it while
    the step waits for the write lock and commit it alone: a kill -9 between the two commits left a step's
    spend in the events and not in the counters (the chaos bench, with Docker sandboxes, found one)."""
    writer = await RunStore.open(tmp_path / "run.db", create=True, flush_interval=0.01)
    try:
        await writer.register_agent("ann", backend="scripted", model="m")
        await writer._lock.acquire()  # another write in progress
        writer.emit("ann", RunLog(message="a tool ran"))
        await asyncio.sleep(0.1)  # the flusher waits for the lock first
        step = asyncio.create_task(
            writer.append_step("ann", 1, [("assistant", "hi")], AgentStepCompleted(step=1, cost_usd=0.5))
        )
        await asyncio.sleep(0.05)
        with sqlite3.connect(tmp_path / "run.db") as raw:  # watch every commit from outside
            seen: list[tuple[int, float]] = []

            def commits() -> None:
                steps = raw.execute("SELECT COUNT(*) FROM events WHERE kind = 'agent.step'").fetchone()[0]
                seen.append((steps, raw.execute("SELECT cost_usd FROM agents").fetchone()[0]))

            writer._lock.release()
            while not step.done():
                commits()
                await asyncio.sleep(0)
            await step
            commits()
        assert (1, 0.0) not in seen, "the step's event was on disk before its counters"
        assert seen[-1] == (1, 0.5)
    finally:
        await writer.close()


async def test_listeners_hear_a_step_and_a_usage_once_they_are_committed(store: RunStore) -> None:
    await store.register_agent("ann", backend="scripted", model="m")
    heard: list[tuple[str | None, str]] = []
    store.subscribe(lambda agent, payload: heard.append((agent, payload.kind)), ["agent.step", "agent.usage"])
    await store.append_step("ann", 1, [("assistant", "hi")], AgentStepCompleted(step=1, cost_usd=0.5))
    await store.record_usage("ann", AgentUsage(purpose="compaction", cost_usd=0.1))
    assert heard == [("ann", "agent.step"), ("ann", "agent.usage")]
    with pytest.raises(TypeError):
        await store.append_step("ann", 2, [("assistant", {1j})], AgentStepCompleted(step=2, cost_usd=0.5))
    assert len(heard) == 2, "a step that did not commit is not heard"


async def test_a_step_whose_commit_fails_leaves_no_agent_step_event(store: RunStore) -> None:
    await store.register_agent("ann", backend="scripted", model="m")
    with pytest.raises(TypeError):
        await store.append_step("ann", 1, [("assistant", {1j})], AgentStepCompleted(step=1, cost_usd=0.5))
    await store.flush()
    assert [r.kind for r in await store.events_after(0)] == []
    assert (await store.agent("ann")).cost_usd == 0.0  # type: ignore[union-attr]


async def test_schema_version_and_refusals(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    await (await RunStore.open(db, create=True)).close()
    store = await RunStore.open(db)
    await store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this aar"):
        await RunStore.open(db)
    with pytest.raises(StoreError, match="no run store"):
        await RunStore.open(tmp_path / "missing.db")
    sqlite3.connect(tmp_path / "other.db").close()
    with pytest.raises(StoreError, match="not an aar run store"):
        await RunStore.open(tmp_path / "other.db")


async def test_migration_from_schema_1_labels_method_submissions(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(MIGRATIONS[0])
        raw.execute("PRAGMA user_version = 1")
        raw.execute(
            "INSERT INTO submissions (ts, agent, kind, payload) VALUES (1, 'ann', 'method', ?), (2, 'bob', 'predictions', ?)",
            ('{"filename": "conf.py", "source": "x"}', '{"predictions": [0, 1]}'),
        )
    async with await RunStore.open(db) as store:
        subs = await store.submissions()
        assert [(s.agent, s.label, s.payload.get("filename")) for s in subs] == [
            ("ann", "conf.py", "conf.py"),
            ("bob", "", None),
        ]
        new = await store.add_submission("cy", "predictions", {"predictions": [1]}, label="out/p.json")
        assert found(await store.submission(new)).label == "out/p.json"
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2


async def test_forum_search_is_plain_words(store: RunStore) -> None:
    await store.add_post("ann", "Filtering at 0.8", "confident-label filtering beats vanilla")
    reply = await store.add_post("bob", "Re: filtering", 'AND OR NOT " ( *', parent_id=1)
    assert sorted(p.id for p in await store.search_posts("filter")) == [1, reply]
    assert await store.search_posts('"(*') == []  # FTS syntax is not interpreted
    assert [p.id for p in await store.search_posts("OR")] == [reply]  # an operator is just a word
    assert [p.id for p in await store.search_posts("vanilla beats")] == [1]
    assert [p.id for p in await store.posts(parent_id=1)] == [reply]
    assert await store.post_count() == 2


async def test_jobs_are_claimed_once_and_requeued(tmp_path: Path) -> None:
    a = await RunStore.open(tmp_path / "run.db", create=True)
    b = await RunStore.open(tmp_path / "run.db")
    try:
        ids = [await a.enqueue_job("baseline", {"seed": s}) for s in range(6)]
        claimed = await asyncio.gather(*(s.claim_job(w) for s, w in [(a, "wa"), (b, "wb")] * 4))
        got = [j.id for j in claimed if j is not None]
        assert sorted(got) == ids  # every job once, none twice
        by_b = sorted(j.id for j in claimed if j and j.worker == "wb")
        assert by_b and await a.requeue_running(worker="wb") == by_b
        retried = [await a.claim_job("wc") for _ in by_b]
        assert sorted(j.id for j in retried if j) == by_b
        assert all(j is not None and j.attempts == 2 for j in retried)
        assert await a.claim_job("wc") is None
        await a.requeue_running(worker="wc")
        assert await a.claim_job("wd", max_attempts=2) is None  # every requeued job has used its two attempts
    finally:
        await a.close()
        await b.close()


async def test_leaderboard_joins_results_and_flags(store: RunStore) -> None:
    s1 = await store.add_submission("ann", "method", {"source": "x"})
    s2 = await store.add_submission("bob", "predictions", {"predictions": [0, 1]}, flags=["probe"])
    j = await store.enqueue_job("score", {}, submission_id=s1)
    await store.add_result(j, submission_id=s1, split="seeds", pgr=0.3, ci_low=0.2, ci_high=0.4, metrics={})
    await store.add_result(
        j, submission_id=s2, split="feedback", pgr=0.5, ci_low=0.1, ci_high=0.9, metrics={}, flags=["majority"]
    )
    await store.add_result(j, submission_id=s2, split="final", pgr=0.9, ci_low=0.8, ci_high=1.0, metrics={})
    board = await store.leaderboard()
    assert [(r.agent, r.pgr, r.flags) for r in board] == [("bob", 0.5, ["probe", "majority"]), ("ann", 0.3, [])]
    assert len(await store.leaderboard(include_final=True)) == 3


async def test_references_are_the_newest_baseline_scores_per_split(store: RunStore) -> None:
    j = await store.enqueue_job("baselines", {})
    s1 = await store.add_submission("ann", "method", {"source": "x"})
    for pgr, baseline, split in [
        (0.20, "vanilla", "feedback"),
        (0.25, "vanilla", "feedback"),  # a re-run of the baselines: the newer one counts
        (0.60, "unsupervised", "feedback"),
        (0.22, "vanilla", "final"),
    ]:
        await store.add_result(
            j,
            submission_id=None,
            split=split,
            pgr=pgr,
            ci_low=pgr - 0.1,
            ci_high=pgr + 0.1,
            metrics={"baseline": baseline},
        )
    await store.add_result(j, submission_id=None, split="feedback", pgr=0.9, ci_low=0.8, ci_high=1.0, metrics={})
    await store.add_result(
        j, submission_id=s1, split="feedback", pgr=0.7, ci_low=0.6, ci_high=0.8, metrics={"baseline": "x"}
    )
    refs = await store.references()
    assert [(r.baseline, r.pgr, r.split) for r in refs] == [
        ("unsupervised", 0.6, "feedback"),
        ("vanilla", 0.25, "feedback"),
    ]
    assert refs[0].label == "unsupervised clusters"
    assert [(r.baseline, r.split) for r in await store.references(include_final=True)][-1] == ("vanilla", "final")
    assert [r.agent for r in await store.leaderboard()] == ["ann"], "baselines are not submissions"


async def test_commands_round_trip(store: RunStore) -> None:
    cid = await store.issue_command(Redirect(text="try filtering"), "ann")
    pending = await store.pending_commands()
    assert [(c.id, c.target, c.command) for c in pending] == [(cid, "ann", Redirect(text="try filtering"))]
    await store.mark_command(cid, effect="queued for next step")
    assert await store.pending_commands() == []
    assert (await store.commands())[0].effect == "queued for next step"


async def test_agent_counters_add_up(store: RunStore) -> None:
    await store.register_agent("ann", backend="scripted", model="m")
    await store.add_usage("ann", steps=1, input_tokens=10, cost_usd=0.5)
    await store.add_usage("ann", steps=1, input_tokens=5, cost_usd=0.25)
    await store.register_agent("ann", backend="scripted", model="m")  # resume keeps counters
    agent = await store.agent("ann")
    assert agent is not None
    assert (agent.steps, agent.input_tokens, agent.cost_usd) == (2, 15, 0.75)
    with pytest.raises(ValueError, match="unknown agent counters"):
        await store.add_usage("ann", bogus=1)


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from aar.store import RunStore
    from aar.events import SandboxOutput
    async def main(path, n):
        store = await RunStore.open(path, batch_size=500, flush_interval=0.01)
        for i in range(n):
            store.emit("w", SandboxOutput(call_id="c", stream="stdout", text=str(i)))
            if i % 250 == 0:
                await asyncio.sleep(0.002)  # a real writer pauses between batches: the reader reads while it writes
        await store.close()
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)
READER = textwrap.dedent(
    """
    import asyncio, sys
    from aar.store import RunStore
    async def main(path, n):
        store = await RunStore.open(path)
        seen, last = [], 0
        while len(seen) < n:
            rows = await store.events_after(last, limit=700)
            for r in rows:
                seen.append((r.id, int(r.payload.text)))
            last = rows[-1].id if rows else last
            await asyncio.sleep(0.005)  # a follower polls another process's commits, as the TUI does
        await store.close()
        ids = [i for i, _ in seen]
        assert ids == sorted(set(ids)), "ids out of order or repeated"
        assert [v for _, v in seen] == list(range(n)), "events missing or reordered"
        print("OK", len(seen))
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@pytest.mark.slow
async def test_two_readers_see_every_event_in_order_while_the_daemon_writes(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    await (await RunStore.open(db, create=True)).close()
    n = 20_000
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(db), str(n)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    writer = subprocess.run([sys.executable, "-c", WRITER, str(db), str(n)], timeout=120)
    assert writer.returncode == 0
    for reader in readers:
        out, _ = reader.communicate(timeout=120)
        assert reader.returncode == 0
        assert out.strip() == f"OK {n}"


async def test_migration_to_7_gives_every_submission_its_links(tmp_path: Path) -> None:
    """A store from before links (schema 6) opens with ``links == []`` on every submission; links written
    later come back on the submission and on its leaderboard rows, and flags stay apart from them."""
    db = tmp_path / "run.db"
    with sqlite3.connect(db) as raw:
        for step in MIGRATIONS[:6]:
            raw.executescript(step)
        raw.execute("PRAGMA user_version = 6")
        raw.execute("INSERT INTO submissions (ts, agent, kind, payload) VALUES (1, 'ann', 'method', '{}')")
    async with await RunStore.open(db) as store:
        (old,) = await store.submissions()
        assert old.links == []
        await store.update_submission(old.id, status="scored", flags=["majority"], links=["method behind #9"])
        job = await store.enqueue_job("method", {}, submission_id=old.id)
        await store.add_result(job, submission_id=old.id, split="seeds", pgr=0.5, ci_low=0.4, ci_high=0.6, metrics={})
        sub = await store.submission(old.id)
        assert sub is not None and (sub.flags, sub.links) == (["majority"], ["method behind #9"])
        (row,) = await store.leaderboard()
        assert (row.flags, row.links) == (["majority"], ["method behind #9"])
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 7


async def test_migration_to_8_records_the_messages_an_older_aar_delivered(tmp_path: Path) -> None:
    """A store from before ``deliveries`` (schema 7) opens with a row for each redirect, broadcast and answer a
    transcript holds (a text block of a user message that opens with its marker), and none for a message only
    quoted: redirect 2 quotes redirect 3's marker, which was applied but not read yet."""
    db = tmp_path / "run.db"

    def text(*texts: str) -> str:
        return json.dumps([{"type": "text", "text": t} for t in texts])

    with sqlite3.connect(db) as raw:
        for step in MIGRATIONS[:7]:
            raw.executescript(step)
        raw.execute("PRAGMA user_version = 7")
        raw.executemany(
            "INSERT INTO commands (id, ts, target, kind, payload, status) VALUES (?, 1, ?, ?, '{}', ?)",
            [
                (1, "*", "redirect", "applied"),
                (2, "ann", "redirect", "applied"),
                (3, "ann", "redirect", "applied"),
                (4, "ann", "answer", "applied"),
                (5, "ann", "pause", "applied"),
            ],
        )
        raw.executemany(
            "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, ?, ?, 1)",
            [
                ("ann", 0, "user", json.dumps("Start your research.")),
                ("ann", 1, "archived:user", text("[Supervisor message, command #1] to all")),
                ("bob", 1, "user", text("[Supervisor message, command #1] to all")),
                ("ann", 2, "user", text("[Supervisor message, command #2] as in [Supervisor message, command #3]")),
                ("ann", 2, "assistant", text("[Supervisor message, command #3] I made this up")),
                ("ann", 3, "user", text("(go on)", "[Supervisor message, command #4] Answer to your question")),
            ],
        )
    async with await RunStore.open(db) as store:
        assert await store.delivered("ann") == {1, 2, 4}
        assert await store.delivered("bob") == {1}
        await store.deliver("ann", 4, text("[Supervisor message, command #3] read now"), [3])
        assert await store.delivered("ann") == {1, 2, 3, 4}
        rows = await store.transcript("ann")
        assert rows[-1].step == 4 and rows[-1].role == "user"
