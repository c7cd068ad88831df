"""Replay: the run as it was at any moment, folded from the event log.

``parse_at`` reads a moment as a user gives it (``3h``, ``2026-11-30T03:00``, ``event:123456``), ``resolve``
finds its event (the last one at or before that time), and ``state_at`` folds the log up to that event into
what the main screen shows (``Moment``): each agent's status and counters, the tail of the log, the forum,
the leaderboard, the evaluator's queue, the inbox and the spend, as they were then. The fold starts from the
nearest checkpoint (``aar.checkpoint``), so a jump reads a few thousand events whatever the run's length.

Replay writes nothing. What the log does not record is shown as it is now: names, backends and directions
of agents, the moderation of posts, and a scored submission's flags.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aar.checkpoint import Folded, fold_to
from aar.errors import AarError
from aar.events import ApprovalRequested
from aar.replay_inbox import inbox_then
from aar.store.protocols import StoreReader
from aar.store.rows import AgentRow, EventRow, InboxRow, LeaderboardRow, PostRow, ReferenceRow, SubmissionRow

BACKLOG = 3000
"""Events a moment carries for the panes' tails (as many as a live attach)."""
POSTS = 500
"""Posts a moment carries (as many as the screen keeps)."""
INBOX_SHOWN = 200
"""Inbox rows a moment carries (the top of the ranking); ``inbox_open`` counts them all."""
APPROVALS_LOOKBACK = 500
"""An agent's own events searched for the approval it waits on, when the backlog does not hold it."""

FORMS = (
    "an offset from the run's start (3h, 90m, 45s, 1h30m), a time (2026-11-30T03:00, local unless it ends in Z"
    " or +HH:MM) or an event (event:123456)"
)
_OFFSET = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
_UNITS = (86400.0, 3600.0, 60.0, 1.0)
_EVENT = re.compile(r"event:\s*#?(\d+)", re.IGNORECASE)


class MomentError(AarError):
    """A moment that cannot be shown: malformed, before the run started, after it ended, no such event."""


@dataclass(frozen=True)
class MomentSpec:
    """A moment as given: a time (``ts``) or an event (``event_id``); ``text`` as the user wrote it."""

    text: str
    ts: float | None = None
    event_id: int | None = None


def parse_at(text: str, *, start_ts: float, end_ts: float | None, now: float) -> MomentSpec:
    """Read a moment of a run that started at ``start_ts`` and ended at ``end_ts`` (None: it is still going, so
    a moment must not be after ``now``). Accepted: an offset from the start (``3h``, ``90m``, ``45s``,
    ``1h30m``, ``1d2h``), an ISO time (``2026-11-30T03:00``: local time, unless it carries ``Z`` or an offset
    like ``+01:00``), or an event (``event:123456``; whether it exists is ``resolve``'s to say). Raises
    ``MomentError`` in one line that says what to give instead."""
    said = text.strip()
    if event := _EVENT.fullmatch(said):
        return MomentSpec(said, event_id=int(event.group(1)))
    ts = _offset(said, start_ts)
    if ts is None:
        try:
            ts = datetime.fromisoformat(said).timestamp()  # a naive time is local time
        except ValueError:
            raise MomentError(f"{said!r} is not a moment: give {FORMS}") from None
    if ts < start_ts:
        raise MomentError(f"{said} is before the run started ({_when(start_ts)}); give a later moment")
    if end_ts is not None and ts > end_ts:
        raise MomentError(
            f"{said} is after the run ended ({_span(end_ts - start_ts)} after its start, {_when(end_ts)});"
            " give an earlier moment"
        )
    if end_ts is None and ts > now:
        raise MomentError(f"{said} is in the future (it is {_when(now)}); give an earlier moment")
    return MomentSpec(said, ts=ts)


def _offset(text: str, start_ts: float) -> float | None:
    match = _OFFSET.fullmatch(text.lower())
    if match is None or not any(match.groups()):
        return None
    return start_ts + sum(float(n) * unit for n, unit in zip(match.groups(), _UNITS, strict=True) if n)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _span(seconds: float) -> str:
    """``2h14m``, ``3m05s``, ``12s``."""
    s = max(0, round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s % 60:02d}s" if m else f"{s}s"


class Resolves(Protocol):
    async def first_event_at(self, ts: float) -> int: ...
    async def last_event_id(self) -> int: ...
    async def latest_events(
        self, n: int = 1000, *, agent: str | None = None, upto_id: int | None = None
    ) -> list[EventRow]: ...
    async def events_after(
        self, last_id: int = 0, *, limit: int = 1000, agent: str | None = None, kinds: Sequence[str] | None = None
    ) -> list[EventRow]: ...


async def resolve(store: Resolves, spec: MomentSpec) -> int:
    """The event of a moment: the event named, or the last event at or before the time. Raises ``MomentError``
    for an event the run does not have."""
    if spec.event_id is not None:
        found = await store.latest_events(1, upto_id=spec.event_id) if spec.event_id > 0 else []
        if not found or found[0].id != spec.event_id:
            last = await store.last_event_id()
            has = f"its events are #1 to #{last}" if last else "it has no event yet"
            raise MomentError(f"{spec.text}: this run has no event #{spec.event_id} ({has})")
        return spec.event_id
    ts = spec.ts if spec.ts is not None else math.inf
    event_id = await store.first_event_at(math.nextafter(ts, math.inf)) - 1  # the first event after ts, less one
    if event_id < 1:
        raise MomentError(f"{spec.text} is before the run's first event; give a later moment")
    return event_id


async def bounds(store: Resolves) -> tuple[float, float] | None:
    """The times of the run's first and last events (None before the first)."""
    last = await store.latest_events(1)
    first = await store.events_after(0, limit=1)
    if not last or not first:
        return None
    return first[0].ts, last[0].ts


@dataclass(frozen=True)
class Queue:
    """The evaluator's jobs by status, as the status bar counts them (a job retrying is queued)."""

    queued: int = 0
    running: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Moment:
    """What the main screen shows of a run as of one event (``state_at``)."""

    event_id: int
    ts: float
    """The time of ``event_id``."""
    state: str
    """The run's state then (its last ``run.state``; ``created`` before the first)."""
    agents: list[AgentRow]
    """The agents that had started then (an event of theirs by then), in today's order, each with its status
    then (its last ``agent.status``) and its steps, tokens and dollars then (its ``agent.step`` and
    ``agent.usage`` events); its name, backend, model, direction and isolation are today's."""
    events: list[EventRow]
    """The newest events up to ``event_id``, oldest first, to fill the panes' tails; with the approval each
    agent waited on then, when it is older."""
    posts: list[PostRow]
    """The newest posts on the forum then, oldest first."""
    post_count: int
    leaderboard: list[LeaderboardRow]
    """The results announced by then (an ``eval.result``), best PGR first."""
    references: list[ReferenceRow]
    flagged: list[SubmissionRow]
    """Submissions announced by then that were flagged, rejected or failed then."""
    queue: Queue
    inbox: list[InboxRow]
    """The open rows of the supervisor's inbox then, ranked (the first ``INBOX_SHOWN``)."""
    inbox_open: int
    spend_usd: float
    """Every agent's dollars then."""
    folded: Folded = field(repr=False, compare=False)
    """The fold behind it (statuses, counters, jobs), for callers that want the raw figures."""


async def state_at(
    store: StoreReader, event_id: int, *, backlog: int = BACKLOG, posts: int = POSTS, inbox: int = INBOX_SHOWN
) -> Moment:
    """The run as it was at event ``event_id``: the log folded from the nearest checkpoint, and the tables read
    as of then. Writes nothing. Raises ``MomentError`` for an event the run does not have."""
    events = await store.latest_events(backlog, upto_id=event_id) if event_id > 0 else []
    if not events or events[-1].id != event_id:
        raise MomentError(f"this run has no event #{event_id}")
    ts = events[-1].ts
    folded = await fold_to(store, event_id)
    agents = [_then(row, folded) for row in await store.agents() if row.name in folded.agents]
    events = await _with_waiting_approvals(store, events, agents, event_id)
    shown, post_count = await store.posts_as_of(folded.post_id, ts, limit=posts)
    rows, open_count = await inbox_then(store, event_id, ts, limit=inbox)
    return Moment(
        event_id=event_id,
        ts=ts,
        state=folded.state,
        agents=agents,
        events=events,
        posts=shown,
        post_count=post_count,
        leaderboard=await store.leaderboard(upto_event=event_id),
        references=await store.references(upto_event=event_id),
        flagged=await _flagged(store, folded, event_id),
        queue=_queue(folded),
        inbox=rows,
        inbox_open=open_count,
        spend_usd=sum(t.cost_nusd for t in folded.agents.values()) / 1_000_000_000,
        folded=folded,
    )


def _then(row: AgentRow, folded: Folded) -> AgentRow:
    tally = folded.agents[row.name]
    return row.model_copy(
        update={
            "status": tally.status,
            "steps": tally.steps,
            "input_tokens": tally.input_tokens,
            "output_tokens": tally.output_tokens,
            "cache_read_tokens": tally.cache_read_tokens,
            "cache_write_tokens": tally.cache_write_tokens,
            "cost_usd": tally.cost_usd,
        }
    )


def _queue(folded: Folded) -> Queue:
    statuses = list(folded.jobs.values())
    return Queue(
        queued=sum(s in ("queued", "retrying") for s in statuses),
        running=statuses.count("running"),
        failed=statuses.count("failed"),
    )


async def _with_waiting_approvals(
    store: StoreReader, events: list[EventRow], agents: list[AgentRow], event_id: int
) -> list[EventRow]:
    """The backlog, and for each agent waiting for approval then, the request it waited on if it is older."""
    asked = {e.agent for e in events if isinstance(e.payload, ApprovalRequested)}
    extra: list[EventRow] = []
    for agent in agents:
        if agent.status == "waiting_approval" and agent.name not in asked:
            own = await store.latest_events(APPROVALS_LOOKBACK, agent=agent.name, upto_id=event_id)
            requests = [e for e in own if isinstance(e.payload, ApprovalRequested)]
            extra += requests[-1:]
    return sorted(extra + events, key=lambda e: e.id) if extra else events


async def _flagged(store: StoreReader, folded: Folded, event_id: int) -> list[SubmissionRow]:
    """Submissions announced by then (``submission.created``) that were flagged, rejected or failed then.

    A rejection is decided when the submission is announced; a failure is its job's; a submission not scored
    by then (no ``eval.result``) carries the flags it was announced with, and ``running`` as its status."""
    announced: dict[int, object] = {
        sid: flags
        for sid, flags in await store.fields_upto("submission.created", ("submission_id", "flags"), event_id)
        if isinstance(sid, int)
    }
    if not announced:
        return []
    scored = {sid for (sid,) in await store.fields_upto("eval.result", ("submission_id",), event_id)}
    failed: set[int | None] = set()
    for job_id, status in folded.jobs.items():
        if status == "failed" and (job := await store.job(job_id)) is not None:
            failed.add(job.submission_id)
    out = []
    for sub in await store.flagged_submissions():
        if sub.id not in announced:
            continue
        if sub.status != "rejected" and sub.id not in scored:
            status = "failed" if sub.id in failed else "running"
            sub = sub.model_copy(update={"status": status, "flags": _flags(announced[sub.id])})
        if sub.flags or sub.status in ("rejected", "failed"):
            out.append(sub)
    return out


def _flags(raw: object) -> list[str]:
    """A ``submission.created`` event's flags, as SQL read them (JSON text of a list)."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return [str(f) for f in value] if isinstance(value, list) else []
