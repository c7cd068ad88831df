"""Stepping a replay: by event, by minute (a quiet minute is still a step) and by submission, and a step
past either end of the log refused in one line. A real store file, its events' times pinned."""

from __future__ import annotations

import sqlite3

import pytest

from aar.events import AgentStatusChanged, EventPayload, ModelText, SubmissionCreated
from aar.replay_steps import At, NoFurther, step
from aar.store import RunStore
from tests.support.clock import FIXED_START

TIMELINE: list[tuple[str, float, str, EventPayload]] = [
    ("start", 0, "agent-1", AgentStatusChanged(status="thinking")),
    ("text", 10, "agent-1", ModelText(step=1, text="hello")),
    ("sub1", 20, "agent-1", SubmissionCreated(submission_id=1, submission_kind="method")),
    ("quiet_end", 200, "agent-2", ModelText(step=1, text="back")),
    ("sub2", 210, "agent-2", SubmissionCreated(submission_id=2, submission_kind="predictions")),
]
"""Events by name, seconds after the start: a quiet stretch of three minutes between two submissions."""


async def _run(store: RunStore) -> dict[str, int]:
    """Write ``TIMELINE`` and pin each event's time; their ids by name."""
    ids = {name: await store.append(agent, payload) for name, _, agent, payload in TIMELINE}
    with sqlite3.connect(store.path) as db:
        db.executemany(
            "UPDATE events SET ts = ? WHERE id = ?", [(FIXED_START + at, ids[name]) for name, at, *_ in TIMELINE]
        )
    return ids


async def _at(store: RunStore, event_id: int) -> At:
    found = await store.event_beside(event_id + 1, -1)
    assert found is not None
    return At(*found)


async def test_steps_by_event_land_on_each_event_and_its_time(store: RunStore) -> None:
    ids = await _run(store)
    start = await _at(store, ids["start"])
    on = await step(store, start, "event", 1)
    assert on == At(ids["text"], start.ts + 10)
    assert await step(store, on, "event", -1) == start


async def test_a_minute_on_moves_the_time_even_when_nothing_happened(store: RunStore) -> None:
    ids = await _run(store)
    sub1 = await _at(store, ids["sub1"])
    minute = await step(store, sub1, "minute", 1)
    assert minute == At(ids["sub1"], sub1.ts + 60)  # the quiet minute: the same last event, a later time
    later = await step(store, await step(store, minute, "minute", 1), "minute", 1)
    assert later.ts == sub1.ts + 180
    assert later.event_id == ids["quiet_end"]  # an event at exactly the moment's time is part of it
    back = await step(store, later, "minute", -1)
    assert back == At(ids["sub1"], sub1.ts + 120)


async def test_steps_by_submission_skip_other_events(store: RunStore) -> None:
    ids = await _run(store)
    start = await _at(store, ids["start"])
    first = await step(store, start, "submission", 1)
    assert first.event_id == ids["sub1"]
    second = await step(store, first, "submission", 1)
    assert second.event_id == ids["sub2"]
    assert (await step(store, second, "submission", -1)).event_id == ids["sub1"]


@pytest.mark.parametrize(
    ("where", "unit", "direction", "says"),
    [
        ("start", "event", -1, "no event before"),
        ("sub2", "event", 1, "no event after"),
        ("sub2", "submission", 1, "no submission after"),
        ("start", "submission", -1, "no submission before"),
        ("start", "minute", -1, "had not started"),
        ("sub2", "minute", 1, "past the last event"),
    ],
)
async def test_a_step_past_an_end_is_refused_in_one_line(
    store: RunStore, where: str, unit: str, direction: int, says: str
) -> None:
    ids = await _run(store)
    at = await _at(store, ids[where])
    with pytest.raises(NoFurther) as refused:
        await step(store, at, unit, direction)  # type: ignore[arg-type]  # each StepUnit, parametrized
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)
