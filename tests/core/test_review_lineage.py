"""A candidate's lineage on a real store: walked back from its submission a page at a time, the newest
``LINEAGE_SHOWN`` lines, oldest first, none after the submission and none of another file or agent."""

from __future__ import annotations

import pytest

from aar import review_lineage
from aar.events import SubmissionCreated, ToolCalled, ToolReturned
from aar.review_lineage import lineage
from aar.store import RunStore


async def test_the_walk_back_crosses_pages_and_keeps_the_newest_lines_in_order(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review_lineage, "PAGE", 7)
    monkeypatch.setattr(review_lineage, "LINEAGE_SHOWN", 12)
    await store.register_agent("ann", backend="scripted", model="m")
    for step in range(1, 31):
        store.emit("ann", ToolCalled(step=step, call_id=f"b{step}", tool="bash", input={"command": "ls"}))
        path = "methods/boot.py" if step % 2 else "methods/other.py"
        store.emit("ann", ToolCalled(step=step, call_id=f"w{step}", tool="write_file", input={"path": path}))
        store.emit("bob", ToolCalled(step=step, call_id=f"x{step}", tool="forum_read", input={}))
    sid = await store.add_submission("ann", "method", {"filename": "boot.py", "source": "x"}, label="methods/boot.py")
    store.emit("ann", SubmissionCreated(submission_id=sid, submission_kind="method"))
    store.emit("ann", ToolReturned(step=31, call_id="s31", tool="submit_method", ok=True, output="scored"))
    await store.flush()
    sub = await store.submission(sid)
    assert sub is not None
    found = await lineage(store, sub)
    assert [(s.step, s.what) for s in found] == [(step, "write") for step in range(7, 31, 2)]
    assert [s.event_id for s in found] == sorted(s.event_id for s in found)


async def test_without_its_created_event_the_walk_stops_at_the_submission_s_time(store: RunStore) -> None:
    await store.register_agent("ann", backend="scripted", model="m")
    store.emit("ann", ToolCalled(step=1, call_id="r1", tool="forum_read", input={"limit": 5}))
    await store.flush()
    sid = await store.add_submission("ann", "method", {"filename": "boot.py", "source": "x"}, label="methods/boot.py")
    await store._db.execute("UPDATE events SET ts = ts - 10")
    store.emit("ann", ToolCalled(step=2, call_id="r2", tool="forum_read", input={"limit": 9}))
    await store.flush()
    await store._db.execute("UPDATE events SET ts = ts + 10 WHERE id = (SELECT MAX(id) FROM events)")
    sub = await store.submission(sid)
    assert sub is not None
    assert [(s.step, s.text) for s in await lineage(store, sub)] == [(1, "forum_read the latest 5 posts")]
