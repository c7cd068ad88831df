"""Headless mode prints one line per event, with an agent's streamed text joined into one."""

from __future__ import annotations

import asyncio

from aar.eventline import one_line
from aar.events import AgentStatusChanged, EvalScored, ModelText, RunLog, SandboxExited
from aar.store import EventRow, RunStore
from aar_app.daemon import _follow


async def test_streamed_text_is_joined_per_agent(store: RunStore) -> None:
    store.emit("ann", ModelText(step=1, text="Reading the "))
    store.emit("bob", ModelText(step=1, text="Claiming "))
    store.emit("ann", ModelText(step=1, text="forum."))
    store.emit("ann", AgentStatusChanged(status="running_tool", detail="bash"))
    store.emit(None, RunLog(message="checkpoint"))
    store.emit("bob", ModelText(step=1, text="filtering."))
    await store.flush()
    printed: list[EventRow] = []
    stop = asyncio.Event()
    stop.set()
    await _follow(store, printed.append, stop)
    assert [(r.agent, r.payload) for r in printed] == [
        ("ann", ModelText(step=1, text="Reading the forum.")),
        ("ann", AgentStatusChanged(status="running_tool", detail="bash")),
        (None, RunLog(message="checkpoint")),
        ("bob", ModelText(step=1, text="Claiming filtering.")),
    ]
    assert one_line(printed[0]).split(None, 3)[1:] == ["ann", "model.text", "says: Reading the forum."]


async def test_each_event_is_summarised_from_its_model_and_an_unknown_one_says_why_it_is_skipped(
    store: RunStore,
) -> None:
    store.emit("ann", EvalScored(job_id=3, submission_id=7, pgr=0.41, ci_low=None, ci_high=None, flags=["probe"]))
    store.emit("ann", SandboxExited(call_id="c", exit_code=None, killed=True))
    store.emit_raw([("ann", "agent.dream", '{"kind": "agent.dream", "about": "sheep", "vivid": true}')])
    await store.flush()
    rows = await store.events_after(0)
    assert [one_line(row).split(None, 3)[3] for row in rows] == [
        "scored submission 7: PGR 0.410 flags probe",
        "command exited None (killed)",
        "unreadable, skipped: unknown kind 'agent.dream'",
    ]
