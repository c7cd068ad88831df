"""Replay's state checkpoints: the fold of the event log up to an event, kept every ``EVERY`` events.

A replay shows the run as it was at an event: each agent's status and counters, the run's state, the
evaluator's jobs, the last post. That is a fold of the log from its first event; a checkpoint is that fold
stored at event ``k * EVERY`` (``checkpoints`` table), so a jump folds only the events since the nearest
one (``fold_to``), in SQL aggregates (``CheckpointTable.fold_events``).

Checkpoints are derived data. The daemon's checkpoint task (``follow``) writes them a second or so behind
the log and catches up from the newest readable one when a run resumes; deleting them loses nothing (a jump
then folds from the first event and shows the same); one that cannot be read (damaged, or a newer aar's
``version``) is passed over for the one before it. Dollars are kept as whole nano-dollars, so the sum is
the same whichever checkpoint a fold starts from.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from aar.events import AgentStatus, RunState
from aar.fold import until_stopped
from aar.store.checkpoint_table import NANO, CheckpointRow, EventFold

log = logging.getLogger("aar.checkpoint")

EVERY = 5000
"""Events between two checkpoints: a jump folds at most this many events (in SQL), and a checkpoint costs the
store's writes one small row per this many events."""
FOLLOW_INTERVAL_S = 1.0
"""How often the daemon's checkpoint task looks for a new multiple of ``EVERY``."""
SCAN = 20
"""Checkpoints tried, newest first, before a fold starts from the first event."""
VERSION: Literal[1] = 1
"""The shape of ``Folded``; bump it (and its ``Literal``) when the shape changes."""

_AGENT_STATUSES: frozenset[str] = frozenset(get_args(AgentStatus))
_RUN_STATES: dict[str, RunState] = {state: state for state in get_args(RunState)}


class Tally(BaseModel):
    """One agent as of an event: its last status and what its steps and other usage added up to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: AgentStatus = "idle"
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_nusd: int = 0
    """Dollars, in nano-dollars (``NANO`` a dollar)."""

    @property
    def cost_usd(self) -> float:
        return self.cost_nusd / NANO

    def then(self, usage: tuple[int, int, int, int, int, int] | None, status: str | None) -> Tally:
        """This tally after a range of events: ``usage`` added, ``status`` (if a known one) taken."""
        update: dict[str, object] = {}
        if usage is not None:
            steps, tin, tout, cread, cwrite, nusd = usage
            update = {
                "steps": self.steps + steps,
                "input_tokens": self.input_tokens + tin,
                "output_tokens": self.output_tokens + tout,
                "cache_read_tokens": self.cache_read_tokens + cread,
                "cache_write_tokens": self.cache_write_tokens + cwrite,
                "cost_nusd": self.cost_nusd + nusd,
            }
        if status in _AGENT_STATUSES:
            update["status"] = status
        return self.model_copy(update=update) if update else self


class Folded(BaseModel):
    """The fold of the event log up to ``event_id``: what a checkpoint stores, as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = VERSION
    """A checkpoint of another version is not read (its fold starts from an older checkpoint)."""
    event_id: int = 0
    """The last event folded (0: none)."""
    state: RunState = "created"
    """The run's state: its last ``run.state``."""
    post_id: int = 0
    """The post of the last ``forum.post`` (0: none)."""
    agents: dict[str, Tally] = {}
    """Every agent with an event by then (an agent with none had not started)."""
    jobs: dict[int, str] = {}
    """The status of every evaluator job not done by then (its last ``eval.job``): queued, retrying, running or
    failed. A done job is dropped (a later event would bring it back)."""

    def then(self, fold: EventFold, upto_id: int) -> Folded:
        """This fold carried on over the events after ``event_id`` up to ``upto_id`` (``fold``)."""
        agents = dict(self.agents)
        for name in sorted(fold.agents | fold.usage.keys() | fold.statuses.keys()):
            tally = agents.get(name, Tally())
            agents[name] = tally.then(fold.usage.get(name), fold.statuses.get(name))
        jobs = dict(self.jobs)
        for job_id, status in sorted(fold.jobs.items()):
            if status == "done":
                jobs.pop(job_id, None)
            else:
                jobs[job_id] = status
        state = self.state if fold.state is None else _RUN_STATES.get(fold.state, self.state)
        post_id = self.post_id if fold.post_id is None else fold.post_id
        return Folded(event_id=upto_id, state=state, post_id=post_id, agents=agents, jobs=jobs)


class ReadsCheckpoints(Protocol):
    async def checkpoints(self, *, upto_id: int, limit: int = 20) -> list[CheckpointRow]: ...
    async def fold_events(self, after_id: int, upto_id: int) -> EventFold: ...


class WritesCheckpoints(ReadsCheckpoints, Protocol):
    async def last_event_id(self) -> int: ...
    async def add_checkpoint(self, event_id: int, ts: float, state: str) -> None: ...


def read(row: CheckpointRow) -> Folded | None:
    """A stored checkpoint, or None when it cannot be read (not JSON, another version, not the event it says)."""
    try:
        folded = Folded.model_validate_json(row.state)
    except ValidationError as exc:
        log.warning("checkpoint at event %d skipped: %s", row.event_id, exc.errors(include_url=False)[:1])
        return None
    return folded if folded.event_id == row.event_id else None


async def nearest(store: ReadsCheckpoints, event_id: int) -> Folded:
    """The newest readable checkpoint at or before ``event_id``; the empty fold (before the first event) when
    there is none."""
    for row in await store.checkpoints(upto_id=event_id, limit=SCAN):
        folded = read(row)
        if folded is not None:
            return folded
    return Folded()


async def fold_to(store: ReadsCheckpoints, event_id: int) -> Folded:
    """The fold of the log up to ``event_id``: the nearest checkpoint, and the events after it."""
    base = await nearest(store, event_id)
    if base.event_id == event_id:
        return base
    return base.then(await store.fold_events(base.event_id, event_id), event_id)


async def catch_up(store: WritesCheckpoints, *, every: int = EVERY) -> int:
    """Write every checkpoint due (each multiple of ``every`` up to the last event) after the newest readable
    one; returns how many were written. A damaged checkpoint on the way is written again."""
    last = await store.last_event_id()
    base = await nearest(store, last)
    target = (base.event_id // every + 1) * every
    written = 0
    while target <= last:
        fold = await store.fold_events(base.event_id, target)
        base = base.then(fold, target)
        await store.add_checkpoint(target, fold.ts or 0.0, base.model_dump_json())
        written += 1
        target += every
    return written


async def follow(
    store: WritesCheckpoints, stop: asyncio.Event, *, every: int = EVERY, interval: float = FOLLOW_INTERVAL_S
) -> None:
    """The daemon's checkpoint task: keep the checkpoints up with the log until ``stop``, then write what is
    due. A write that fails raises: the daemon's supervisor records it and starts this again, and it goes on
    from the newest readable checkpoint."""
    await until_stopped(lambda: catch_up(store, every=every), stop, interval)
    await catch_up(store, every=every)
