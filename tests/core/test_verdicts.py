"""The supervisor's verdicts in the run store: an event and a forum post written together, read back after the
store is reopened (as after a kill -9 and ``aar resume``), seen by the agents through ``forum_read``, and
recorded while another connection (the daemon's) writes."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path

import pytest

from aar.config import load_config
from aar.events import ForumPosted, ReviewVerdict
from aar.store import RunStore
from aar.store.protocols import ReviewStore, StoreReader
from aar.store.review_table import SubmissionNotFound
from tests.integrity.tool_calls import call_tool
from tests.support.review import review_run


async def test_a_verdict_is_an_event_and_a_supervisor_post_that_outlive_the_store(tmp_path: Path) -> None:
    paths = await review_run(tmp_path)
    async with await RunStore.open(paths.db) as store:
        first = await store.record_verdict(2, "needs-work", "rerun with 5 seeds", by="alice")
        second = await store.record_verdict(2, "reject", "overfits the feedback split", by="alice")
        await store.record_verdict(1, "accept", "", by="supervisor")
    async with await RunStore.open(paths.db) as store:  # a new process, after the daemon was killed
        standing = await store.verdicts()
        history = await store.verdict_history(2)
        post = await store.post(second.post_id or 0)
        events = await store.events_after(0, kinds=["review.verdict"])
    assert standing[2] == second and standing[1].verdict == "accept" and set(standing) == {1, 2}
    assert history == [first, second], "every verdict stays in the log; the latest stands"
    assert [(e.agent, e.payload) for e in events[:2]] == [
        (
            "agent-2",
            ReviewVerdict(
                submission_id=2, verdict="needs-work", note="rerun with 5 seeds", by="alice", post_id=first.post_id
            ),
        ),
        (
            "agent-2",
            ReviewVerdict(
                submission_id=2,
                verdict="reject",
                note="overfits the feedback split",
                by="alice",
                post_id=second.post_id,
            ),
        ),
    ]
    assert post is not None and post.author == "supervisor"
    assert post.title == "Review of submission #2: reject"
    assert post.body == "Review of submission #2 (methods/boot.py by agent-2): reject — overfits the feedback split"


async def test_an_unknown_submission_writes_nothing(tmp_path: Path) -> None:
    paths = await review_run(tmp_path)
    async with await RunStore.open(paths.db) as store:
        posts = await store.post_count()
        with pytest.raises(SubmissionNotFound, match="no submission #99 in this run"):
            await store.record_verdict(99, "reject", "x", by="alice")
        assert await store.post_count() == posts and await store.verdicts() == {}


async def test_a_prediction_file_takes_a_verdict_too(tmp_path: Path) -> None:
    paths = await review_run(tmp_path)
    async with await RunStore.open(paths.db) as store:
        got = await store.record_verdict(3, "reject", "", by="alice")
        post = await store.post(got.post_id or 0)
    assert post is not None and post.body == "Review of submission #3 (preds.json by agent-2): reject"


async def test_agents_read_the_verdict_with_forum_read(tmp_path: Path) -> None:
    paths = await review_run(tmp_path)
    async with await RunStore.open(paths.db) as store:
        got = await store.record_verdict(2, "reject", "uses held-out labels", by="alice")
        read = await call_tool(store, load_config(paths.config), "agent-2", "forum_read")
    assert not read.is_error and read.records is not None
    (record,) = [r for r in read.records if r.get("post") == got.post_id]
    assert record["author"] == "supervisor" and record["title"] == "Review of submission #2: reject"
    assert record["body"].endswith("reject — uses held-out labels")


async def test_a_verdict_is_recorded_while_the_daemon_writes(tmp_path: Path) -> None:
    """Two connections on one WAL file, as ``aar review`` beside a live daemon: neither loses a row."""
    paths = await review_run(tmp_path)
    async with await RunStore.open(paths.db) as daemon, await RunStore.open(paths.db) as cli:
        stop = asyncio.Event()

        async def write_events() -> int:
            n = 0
            while not stop.is_set():
                await daemon.append("agent-1", ForumPosted(post_id=n, title=f"busy {n}"))
                n += 1
            return n

        writer = asyncio.create_task(write_events())
        verdicts = [await cli.record_verdict(sid, "accept", f"ok {sid}", by="alice") for sid in (1, 2, 3)]
        stop.set()
        written = await writer
        assert written > 0, "the daemon's writes interleaved with the verdicts"
        assert await daemon.verdicts() == {v.submission_id: v for v in verdicts}
        assert len(await daemon.events_after(0, kinds=["forum.post"], limit=100_000)) == written


async def test_a_verdict_event_that_does_not_read_is_skipped(tmp_path: Path) -> None:
    paths = await review_run(tmp_path)
    async with await RunStore.open(paths.db) as store:
        await store.record_verdict(1, "accept", "", by="alice")
        store.emit_raw([("agent-1", "review.verdict", json.dumps({"kind": "review.verdict", "submission_id": 1}))])
        await store.flush()
        assert [v.verdict for v in await store.verdict_history()] == ["accept"]


def test_the_review_store_is_a_reader_plus_verdicts() -> None:
    members = {n for n, _ in inspect.getmembers(ReviewStore, inspect.isfunction) if not n.startswith("_")}
    readers = {n for n, _ in inspect.getmembers(StoreReader, inspect.isfunction) if not n.startswith("_")}
    assert members - readers == {"record_verdict"} and {"verdicts", "verdict_history"} <= readers
    for name in members:
        theirs = inspect.signature(getattr(RunStore, name)).parameters
        assert list(theirs) == list(inspect.signature(getattr(ReviewStore, name)).parameters), name
