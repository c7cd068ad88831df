"""Events no reader can parse (a missing field, a kind this aar does not know, JSON cut off), written
straight into a real SQLite store: the headless printer, the inbox and the report each skip them one at a
time, say so once, and go on with the events after them. (The TUI, the monitors and resume have theirs in
their own tiers.)"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from aar.eventline import one_line
from aar.events import ModelText, RunLog, SupervisorAsked, Unreadable
from aar.inbox import Clear, NewItem, catch_up, follow
from aar.inbox import derive as real_derive
from aar.store import EventRow, RunStore, inbox_table
from aar_app.daemon import _follow
from aar_app.report import build_report, render_markdown
from tests.evaluator.helpers import make_run
from tests.support import eventually
from tests.unreadable import REASONS, UNKNOWN_KIND, unreadable_rows


async def _bad_then_good(store: RunStore) -> int:
    """Three unreadable ``agent.ask`` rows, then a good question and a good line; returns the first bad id."""
    first = await store.append(None, RunLog(message="before"))
    store.emit_raw(unreadable_rows("agent.ask"))
    store.emit("agent-1", SupervisorAsked(step=2, question="May I use the GPU?", call_id="q1"))
    store.emit(None, RunLog(level="warning", message="after"))
    await store.flush()
    return first + 1


async def test_the_headless_printer_prints_one_line_per_unreadable_event_and_goes_on(store: RunStore) -> None:
    bad = await _bad_then_good(store)
    store.emit("agent-1", ModelText(step=2, text="still here"))
    await store.flush()
    printed: list[EventRow] = []
    stop = asyncio.Event()
    stop.set()
    await _follow(store, printed.append, stop)
    lines = [one_line(row).split(None, 3)[1:] for row in printed]
    assert [line[:2] for line in lines] == [
        ["-", "log"],
        ["agent-1", "agent.ask"],
        ["agent-1", UNKNOWN_KIND],
        ["agent-1", "agent.ask"],
        ["agent-1", "agent.ask"],
        ["-", "log"],
        ["agent-1", "model.text"],
    ]
    skipped = [line[2] for line in lines[1:4]]
    assert all(s.startswith("unreadable, skipped: ") and r in s for s, r in zip(skipped, REASONS, strict=True))
    assert lines[4][2] == "asks the supervisor (q1): May I use the GPU?" and lines[6][2] == "says: still here"
    assert [row.id for row in printed[1:4]] == [bad, bad + 1, bad + 2], "each printed once"


async def test_the_inbox_reports_each_unreadable_event_once_and_folds_past_it(store: RunStore) -> None:
    """The regression test of the stall: a malformed event used to raise in the fold, which rolled back and
    retried the same batch forever, so the cursor never moved past it and no later event reached the inbox."""
    bad = await _bad_then_good(store)
    await catch_up(store)
    assert await store.inbox_cursor() == await store.last_event_id(), "the cursor moved past the bad rows"
    items = await store.inbox()
    asked = [i for i in items if i.kind == "ask"]
    assert [(i.agent, i.call_id, i.summary) for i in asked] == [("agent-1", "q1", "May I use the GPU?")]
    assert [i.summary for i in items if i.kind == "warning"] == ["after"]
    errors = sorted((i for i in items if i.kind == "error"), key=lambda i: i.source_event)
    assert [i.source_event for i in errors] == [bad, bad + 1, bad + 2]
    for item, kind, reason in zip(errors, ["agent.ask", UNKNOWN_KIND, "agent.ask"], REASONS, strict=True):
        assert item.summary.startswith(f"event {item.source_event} ({kind}) unreadable: ") and reason in item.summary
    # Folding again, and rebuilding from the whole log, report each one once still.
    await catch_up(store)
    await store.rebuild_inbox()
    again = [i for i in await store.inbox() if i.kind == "error"]
    assert sorted(i.source_event for i in again) == [bad, bad + 1, bad + 2]


async def test_the_report_lists_each_unreadable_event_once_and_reads_the_rest(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "runs" / "r-1")
    async with await RunStore.open(paths.db, create=True) as store:
        bad = await _bad_then_good(store)
    report = await build_report(paths)
    assert report.events == 6
    assert len(report.unreadable) == 3
    for line, n, reason in zip(report.unreadable, range(bad, bad + 3), REASONS, strict=True):
        assert line.startswith(f"event {n} (") and reason in line
    markdown = render_markdown(report)
    assert "## Unreadable events" in markdown and "3 event(s) could not be read and were skipped:" in markdown
    assert sum(f"- event {n} (" in markdown for n in range(bad, bad + 3)) == 3


async def test_malformed_rows_written_into_the_sqlite_file_do_not_stall_the_daemons_inbox_builder(
    store: RunStore, tmp_path: Path
) -> None:
    """Rows another process wrote straight into the file (JSON cut off, a payload that is not text, an unknown
    kind, a known kind missing its fields) while the builder runs: each raises one error item, and the
    question asked after them reaches the inbox."""
    stop = asyncio.Event()
    builder = asyncio.create_task(follow(store, stop, interval=0.02))
    try:
        await store.append(None, RunLog(message="before"))
        with sqlite3.connect(tmp_path / "run.db") as raw:
            raw.executemany(
                "INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)",
                [
                    (time.time(), "agent-1", kind, payload)
                    for kind, payload in [
                        *((kind, payload) for _, kind, payload in unreadable_rows("agent.ask")),
                        ("agent.ask", 42),
                        ("log", b"\xff\xfe"),
                    ]
                ],
            )
        bad = [r.id for r in await store.events_after(0, limit=100) if isinstance(r.payload, Unreadable)]
        assert len(bad) == 5
        store.emit("agent-1", SupervisorAsked(step=3, question="after the damage?", call_id="q9"))
        await store.flush()
        await eventually(
            lambda: _question_in_inbox(store), what="the question after the damaged rows to reach the inbox"
        )
        errors = [i for i in await store.inbox() if i.kind == "error"]
        assert sorted(i.source_event for i in errors) == bad, "each damaged row is reported once"
        assert await store.inbox_cursor() == await store.last_event_id()
    finally:
        stop.set()
        await asyncio.wait_for(builder, 10)


async def _question_in_inbox(store: RunStore) -> bool:
    return any(i.kind == "ask" and i.call_id == "q9" for i in await store.inbox())


async def test_an_event_the_inbox_fails_to_derive_is_reported_and_skipped(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in ``derive`` on one event costs that event an error item, not the inbox every later one."""

    def derive(event: EventRow) -> NewItem | Clear | None:
        if isinstance(event.payload, RunLog) and event.payload.message == "poison":
            raise ValueError("derive bug")
        return real_derive(event)

    monkeypatch.setattr(inbox_table, "derive", derive)
    poison = await store.append(None, RunLog(level="warning", message="poison"))
    store.emit("agent-1", SupervisorAsked(step=1, question="still there?", call_id="q1"))
    await store.flush()
    await catch_up(store)
    items = {i.source_event: (i.kind, i.summary) for i in await store.inbox()}
    assert items[poison] == ("error", f"event {poison} (log) skipped: ValueError('derive bug')")
    assert ("ask", "still there?") in items.values()
