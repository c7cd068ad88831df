"""The inbox, derived from a real event log in a real SQLite file: what raises an item, what settles it,
the ranking, idempotent folding, rebuilding, and acknowledgements that outlive a rebuild."""

from __future__ import annotations

from pathlib import Path

from aar.events import (
    AgentStatusChanged,
    ApprovalRequested,
    BudgetExceeded,
    BudgetWarned,
    ClaimChecked,
    EvalJobChanged,
    ForumPosted,
    MonitorDecided,
    RunLog,
    SandboxExited,
    SandboxLifecycle,
    SubmissionCreated,
    SupervisorAsked,
    ToolReturned,
)
from aar.inbox import catch_up
from aar.store import RunStore
from aar_app.inbox_cli import render
from tests.support.demo_events import emit_contradicted_post


async def _feed(store: RunStore) -> None:
    store.emit("ann", ApprovalRequested(call_id="c1", tool="bash", input={"command": "ls"}))
    store.emit("ann", SupervisorAsked(step=3, question="May I use the GPU?", call_id="q1"))
    store.emit("bob", MonitorDecided(monitor="builtin", rule="label_hunting", action="pause", reason="grep labels"))
    store.emit("bob", ClaimChecked(post_id=7, metric="pgr", value=0.9, claim="PGR 0.9", verdict="contradicted"))
    store.emit("bob", ClaimChecked(post_id=8, metric="pgr", value=0.4, claim="PGR 0.4", verdict="verified"))
    store.emit("bob", SubmissionCreated(submission_id=4, submission_kind="predictions", flags=["probe"]))
    store.emit("bob", SubmissionCreated(submission_id=5, submission_kind="method"))
    store.emit(None, EvalJobChanged(job_id=9, job_kind="score", status="failed", detail="worker died twice"))
    store.emit(None, EvalJobChanged(job_id=10, job_kind="score", status="done"))
    store.emit("cy", BudgetWarned(limit="dollars", used=8.0, cap=10.0))
    store.emit("cy", BudgetExceeded(limit="dollars", used=10.0, cap=10.0))
    store.emit("cy", BudgetExceeded(limit="steps", used=5, cap=5))
    store.emit("cy", SandboxLifecycle(action="recreated", backend="docker", detail="container was removed"))
    store.emit("cy", SandboxLifecycle(action="started", backend="docker"))
    store.emit("cy", SandboxExited(call_id="c9", exit_code=137, oom_killed=True))
    store.emit(None, RunLog(level="warning", message="previous daemon (pid 4) died; resuming from the store"))
    store.emit(None, RunLog(level="info", message="run started"))
    store.emit("ann", ForumPosted(post_id=1, title="hello"))
    await store.flush()


async def test_every_feed_raises_one_item_ranked_blocking_first(store: RunStore) -> None:
    await _feed(store)
    await catch_up(store)
    items = await store.inbox()
    assert [(i.rank, i.kind, i.agent) for i in items] == [
        (0, "ask", "ann"),
        (0, "approval", "ann"),
        (1, "warning", None),
        (1, "sandbox", "cy"),
        (1, "sandbox", "cy"),
        (1, "budget", "cy"),
        (1, "eval_failed", None),
        (1, "flagged", "bob"),
        (1, "claim", "bob"),
        (1, "monitor", "bob"),
        (2, "budget", "cy"),
    ], "blocking, then alerts, then notices; newest first in each; verified claims, info logs, steps do not count"
    by_kind = {i.kind: i for i in items}
    assert by_kind["ask"].summary == "May I use the GPU?" and by_kind["ask"].call_id == "q1"
    assert by_kind["claim"].post_id == 7 and by_kind["flagged"].submission_id == 4
    assert by_kind["eval_failed"].job_id == 9 and "worker died twice" in by_kind["eval_failed"].summary
    assert "OOM-killed" in items[3].summary and "recreated: container was removed" in items[4].summary
    assert await store.inbox_open_count() == 11


async def test_items_settle_when_the_call_is_decided_or_the_agent_goes_on(store: RunStore) -> None:
    await _feed(store)
    store.emit("ann", ToolReturned(step=3, call_id="other", tool="bash", ok=True, output=""))
    store.emit("bob", ToolReturned(step=3, call_id="c1", tool="bash", ok=True, output=""))  # another agent's c1
    await store.flush()
    await catch_up(store)
    assert {i.kind for i in await store.inbox() if i.agent == "ann"} == {"ask", "approval"}
    store.emit("ann", ToolReturned(step=3, call_id="c1", tool="bash", ok=False, output="denied"))
    store.emit("ann", AgentStatusChanged(status="paused", detail="waiting"))
    await store.flush()
    await catch_up(store)
    assert [i.kind for i in await store.inbox() if i.agent == "ann"] == ["ask"], "a pause does not answer a question"
    store.emit("ann", AgentStatusChanged(status="thinking"))
    await store.flush()
    await catch_up(store)
    assert [i.kind for i in await store.inbox() if i.agent == "ann"] == []
    settled = [i for i in await store.inbox(open_only=False) if i.agent == "ann"]
    assert all(i.cleared_event is not None and not i.is_open for i in settled)


async def test_folding_twice_adds_nothing_and_a_rebuild_keeps_acknowledgements(store: RunStore) -> None:
    await _feed(store)
    events = await store.events_after(0)
    await store.fold_inbox(events[:5])
    await store.fold_inbox(events)  # a folder that crashed after its first batch, or two folders at once
    await store.fold_inbox(events)
    items = await store.inbox(open_only=False)
    assert len(items) == 11 and len({i.source_event for i in items}) == 11
    first = items[0]
    assert await store.acknowledge([first.id], "ann-the-human") == 1
    assert await store.acknowledge([first.id], "someone-else") == 0, "the first acknowledgement stands"
    assert await store.inbox_open_count() == 10
    before = [(i.source_event, i.kind, i.summary, i.cleared_event) for i in await store.inbox(open_only=False)]

    await store.rebuild_inbox()
    after = await store.inbox(open_only=False)
    assert [(i.source_event, i.kind, i.summary, i.cleared_event) for i in after] == before
    acked = next(i for i in after if i.source_event == first.source_event)
    assert acked.ack_by == "ann-the-human" and acked.ack_ts is not None and not acked.is_open
    assert await store.inbox_open_count() == 10


async def test_aar_inbox_text_and_json(store: RunStore, tmp_path: Path) -> None:
    await _feed(store)
    await catch_up(store)
    rows = await store.inbox()
    text = render(rows, as_json=False).splitlines()
    assert "blocking" in text[0] and "ann" in text[0] and "May I use the GPU?" in text[0]
    assert render([], as_json=False) == "the inbox is empty"
    import json

    data = json.loads(render(rows, as_json=True))
    assert data[0]["kind"] == "ask" and data[0]["rank_name"] == "blocking" and data[0]["open"] is True


async def _contradicted_post(store: RunStore, post_id: int = 5) -> None:
    store.emit("agent-4", ForumPosted(post_id=post_id, title="Result: a trick recovers 93% of the gap"))
    emit_contradicted_post(store, post_id)
    await store.flush()


async def test_a_contradicted_post_is_one_row_with_three_reasons_and_one_ack_clears_them(store: RunStore) -> None:
    await _contradicted_post(store)
    store.emit("agent-4", SupervisorAsked(step=2, question="Can I post again?", call_id="q"))
    await store.flush()
    await catch_up(store)
    rows = await store.inbox()
    assert [(r.kind, r.subject, len(r.reasons)) for r in rows] == [
        ("ask", "call:agent-4:q", 1),
        ("monitor", "post:5", 3),
    ], "the flag stands for the post (newest of its alerts); the question is its own row"
    post = rows[1]
    assert post.reasons[0] == post.summary and post.reasons[0].startswith("contradicted_claims -> flag")
    assert post.reasons[1].startswith("post #5 says 'PGR 0.93'") and "'recovers 93% of the gap'" in post.reasons[2]
    assert len(set(post.item_ids)) == 3 and post.item_ids[0] == post.id
    assert await store.inbox_open_count() == 2, "the badge counts rows, not items"

    lines = render(rows, as_json=False).splitlines()
    assert len(lines) == 2 and "(+2: post #5 says 'PGR 0.93'" in lines[1] and "'recovers 93% of the gap'" in lines[1]

    assert await store.acknowledge([post.id], "ann") == 3, "acknowledging the row acknowledges its three items"
    assert [r.kind for r in await store.inbox()] == ["ask"] and await store.inbox_open_count() == 1
    acked = [i for i in await store.inbox(open_only=False) if i.subject == "post:5"]
    assert [(len(i.item_ids), i.ack_by, i.is_open) for i in acked] == [(3, "ann", False)]


async def test_a_new_reason_after_the_acknowledgement_opens_the_subject_again(store: RunStore) -> None:
    await _contradicted_post(store)
    await catch_up(store)
    (post,) = await store.inbox()
    await store.acknowledge([post.id], "ann")
    store.emit("agent-4", ClaimChecked(post_id=5, metric="pgr", value=0.9, claim="PGR 0.9", verdict="contradicted"))
    store.emit("agent-4", ClaimChecked(post_id=6, metric="pgr", value=0.9, claim="PGR 0.9", verdict="contradicted"))
    await store.flush()
    await catch_up(store)
    assert [(r.subject, len(r.reasons)) for r in await store.inbox()] == [("post:6", 1), ("post:5", 1)]
    everything = await store.inbox(open_only=False)
    assert sorted((r.subject, r.is_open, len(r.item_ids)) for r in everything) == [
        ("post:5", False, 3),
        ("post:5", True, 1),
        ("post:6", True, 1),
    ], "--all lists what was acknowledged apart from what is open"
