"""Stepping a replay through time: to the next or previous event, minute or submission.

A replay shows the run as of a moment: a time, and the last event written at
or before it. Stepping by event lands on that event's own time; stepping by a
minute moves the time itself, so a quiet minute is still a step (the events
shown stay those of the minute before); stepping by submission lands on the
next ``submission.created``. At either end of the log a step is refused with
a line that says where the replay stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from aar.errors import AarError

StepUnit = Literal["event", "minute", "submission"]
MINUTE_S = 60.0
SUBMISSION_KINDS = ("submission.created",)


class StepReader(Protocol):
    async def event_beside(
        self, event_id: int, direction: int, *, kinds: tuple[str, ...] | None = None
    ) -> tuple[int, float] | None: ...
    async def first_event_at(self, ts: float) -> int: ...
    async def last_event_id(self) -> int: ...


class NoFurther(AarError):
    """A replay step past the first or the last event of the run."""


@dataclass(frozen=True)
class At:
    """A moment of a run: ``event_id`` is the last event at or before ``ts``."""

    event_id: int
    ts: float


async def step(store: StepReader, at: At, unit: StepUnit, direction: int) -> At:
    """The moment one ``unit`` after (``direction`` > 0) or before ``at``; ``NoFurther`` at an end."""
    forward = direction > 0
    if unit == "minute":
        return await _minute(store, at, forward)
    kinds = SUBMISSION_KINDS if unit == "submission" else None
    found = await store.event_beside(at.event_id, 1 if forward else -1, kinds=kinds)
    if found is None:
        what = "submission" if unit == "submission" else "event"
        raise NoFurther(f"no {what} {'after' if forward else 'before'} #{at.event_id}; L goes back to live")
    return At(*found)


async def _minute(store: StepReader, at: At, forward: bool) -> At:
    ts = at.ts + (MINUTE_S if forward else -MINUTE_S)
    last = await store.last_event_id()
    event_id = await store.first_event_at(_just_after(ts)) - 1  # the last event at or before ts
    if event_id < 1:
        raise NoFurther(f"the run had not started a minute before #{at.event_id}")
    if forward and event_id >= last:
        newest = await store.event_beside(last + 1, -1)
        if newest is not None and ts > newest[1]:
            raise NoFurther("a minute on is past the last event; L goes back to live")
    return At(event_id, ts)


def _just_after(ts: float) -> float:
    """The smallest time after ``ts`` that ``first_event_at`` tells apart (events at exactly ``ts`` count)."""
    return ts + 1e-6
