"""Replay's side of the store: state checkpoints, and the reads that answer "as of event N".

A checkpoint is the fold of the event log up to one event (``aar.checkpoint``), stored as JSON text: derived
data that only makes a jump fast. ``fold_events`` is that fold over a range of events, done in SQL on the
(kind, id) index and the primary key, so a jump reads the events since the nearest checkpoint (a few
thousand at most) through aggregates, never a million rows through Python.

Every read here skips a payload that is not JSON (``json_valid``): one damaged row costs its own event, as
it does for every reader of the log.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from aar.store.connection import Connection
from aar.store.rows import PostRow, SubmissionRow, decode

NANO = 1_000_000_000
"""Dollars are summed as whole nano-dollars: an integer sum is the same whichever checkpoint it starts from."""

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


@dataclass(frozen=True)
class CheckpointRow:
    event_id: int
    """The last event folded into it."""
    ts: float
    state: str
    """The fold as JSON text (``aar.checkpoint.Folded``); may be unreadable (a newer aar's, a damaged row)."""


@dataclass
class EventFold:
    """What the events of one range (``after_id < id <= upto_id``) change, per part of the screen."""

    agents: set[str] = field(default_factory=set)
    """Agents with an event in the range."""
    usage: dict[str, tuple[int, int, int, int, int, int]] = field(default_factory=dict)
    """Per agent: steps (``agent.step`` events), the four token counts and nano-dollars (``agent.step`` and
    ``agent.usage``)."""
    statuses: dict[str, str] = field(default_factory=dict)
    """Per agent, the status of its last ``agent.status``."""
    jobs: dict[int, str] = field(default_factory=dict)
    """Per evaluator job, the status of its last ``eval.job``."""
    state: str | None = None
    """The last ``run.state``."""
    post_id: int | None = None
    """The post of the last ``forum.post``."""
    ts: float | None = None
    """The time of event ``upto_id`` (None when the log has no event up to it)."""


_RANGE = "id > ?1 AND id <= ?2"
_AGENTS = (
    "SELECT a.name,"
    f" EXISTS (SELECT 1 FROM events INDEXED BY events_agent WHERE agent = a.name AND {_RANGE}),"
    " (SELECT json_extract(payload, '$.status') FROM events INDEXED BY events_agent"
    f"  WHERE agent = a.name AND {_RANGE} AND kind = 'agent.status' AND json_valid(payload) ORDER BY id DESC LIMIT 1)"
    " FROM agents a"
)
"""Per agent of the table: whether it had an event in the range, and its last status there."""
_USAGE = (
    "SELECT agent, SUM(kind = 'agent.step'),"
    + ", ".join(f"SUM(COALESCE(json_extract(v, '$[{i}]'), 0))" for i in range(len(USAGE_FIELDS)))
    + f", SUM(CAST(ROUND(COALESCE(json_extract(v, '$[{len(USAGE_FIELDS)}]'), 0) * {NANO}) AS INTEGER))"
    " FROM (SELECT agent, kind, json_extract(payload, "
    + ", ".join(f"'$.{f}'" for f in (*USAGE_FIELDS, "cost_usd"))
    + ") AS v FROM events WHERE kind IN ('agent.step', 'agent.usage') AND "
    + _RANGE
    + " AND agent IS NOT NULL AND json_valid(payload) LIMIT -1) GROUP BY agent"
)
"""Per agent: its steps, token counts and nano-dollars in the range (each payload parsed once, into a short
array that the sums read; ``LIMIT -1`` keeps SQLite from flattening the subquery, which would parse it once
per sum)."""
_JOBS = (
    "SELECT job_id, status FROM (SELECT json_extract(payload, '$.job_id') AS job_id,"
    " json_extract(payload, '$.status') AS status, ROW_NUMBER() OVER (PARTITION BY json_extract(payload, '$.job_id')"
    f" ORDER BY id DESC) AS nth FROM events WHERE kind = 'eval.job' AND {_RANGE} AND json_valid(payload)) WHERE nth = 1"
)
"""Per evaluator job: the status of its last ``eval.job`` in the range."""


def _last(kind: str, field: str) -> str:
    return (
        f"(SELECT json_extract(payload, '$.{field}') FROM events WHERE kind = '{kind}' AND {_RANGE}"
        " AND json_valid(payload) ORDER BY id DESC LIMIT 1)"
    )


_LAST = (
    f"SELECT {_last('run.state', 'state')}, {_last('forum.post', 'post_id')},"
    " (SELECT ts FROM events WHERE id <= ?2 ORDER BY id DESC LIMIT 1)"
)
"""The run's last state and last post in the range, and the time of its last event."""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


class CheckpointTable(Connection):
    async def checkpoints(self, *, upto_id: int, limit: int = 20) -> list[CheckpointRow]:
        """The newest ``limit`` checkpoints at or before event ``upto_id``, newest first (none in a store whose
        table is missing: a copy opened read-only from before it existed)."""
        try:
            rows = await self._fetch(
                "SELECT event_id, ts, state FROM checkpoints WHERE event_id <= ? ORDER BY event_id DESC LIMIT ?",
                (upto_id, limit),
            )
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [CheckpointRow(int(r[0]), float(r[1]), str(r[2])) for r in rows]

    async def add_checkpoint(self, event_id: int, ts: float, state: str) -> None:
        """Store (or replace) the checkpoint of event ``event_id``."""
        await self._write(
            "INSERT INTO checkpoints (event_id, ts, state) VALUES (?, ?, ?)"
            " ON CONFLICT (event_id) DO UPDATE SET ts = excluded.ts, state = excluded.state",
            (event_id, ts, state),
        )

    async def fold_events(self, after_id: int, upto_id: int) -> EventFold:
        """The fold of the events with ``after_id < id <= upto_id`` (``EventFold``), in four queries: one row per
        agent of the table (whether it had an event, its last status: on the (agent, id) index), the usage sums
        (each payload parsed once, on the (kind, id) index), the jobs' last statuses, and the run's state, last
        post and the time of ``upto_id``."""
        out = EventFold()
        span = (after_id, upto_id)
        for name, present, status in await self._fetch(_AGENTS, span):
            if present:
                out.agents.add(str(name))
            if isinstance(status, str):
                out.statuses[str(name)] = status
        for r in await self._fetch(_USAGE, span):
            out.usage[str(r[0])] = (_int(r[1]), _int(r[2]), _int(r[3]), _int(r[4]), _int(r[5]), _int(r[6]))
        for job_id, status in await self._fetch(_JOBS, span):
            if isinstance(job_id, int) and isinstance(status, str):
                out.jobs[job_id] = status
        row = await self._fetchone(_LAST, span)
        if row is not None:
            state, post_id, ts = row
            out.state = state if isinstance(state, str) else None
            out.post_id = post_id if isinstance(post_id, int) else None
            out.ts = None if ts is None else float(ts)
        return out

    async def fields_upto(self, kind: str, fields: tuple[str, ...], upto_id: int) -> list[tuple[Any, ...]]:
        """``(field, ...)`` of every event of ``kind`` at or before ``upto_id``, in id order (the few events of a
        kind like ``submission.created``, on the (kind, id) index)."""
        picks = ", ".join("json_extract(payload, ?)" for _ in fields)
        rows = await self._fetch(
            f"SELECT {picks} FROM events WHERE kind = ? AND id <= ? AND json_valid(payload) ORDER BY id",
            (*(f"$.{f}" for f in fields), kind, upto_id),
        )
        return [tuple(r) for r in rows]

    async def flagged_submissions(self) -> list[SubmissionRow]:
        """Submissions flagged, rejected or failed now: every one that was so at any moment before (flags only
        accumulate, and a rejection or a final failure stands), oldest first."""
        rows = await self._fetch(
            "SELECT * FROM submissions WHERE flags != '[]' OR status IN ('rejected', 'failed') ORDER BY id"
        )
        return [SubmissionRow(**decode(r)) for r in rows]

    async def posts_as_of(self, post_id: int, ts: float, *, limit: int = 500) -> tuple[list[PostRow], int]:
        """The posts on the forum as of a moment, the newest ``limit`` (oldest first), and how many in all: every
        post up to ``post_id`` (the last ``forum.post`` then; agents' posts are announced by one), and the posts
        of anyone else (the supervisor's, which no event announces) written by ``ts``."""
        where = "id <= ? OR (ts <= ? AND author NOT IN (SELECT name FROM agents))"
        rows = await self._fetch(
            f"SELECT * FROM forum_posts WHERE {where} ORDER BY id DESC LIMIT ?", (post_id, ts, limit)
        )
        count = int(await self._scalar(f"SELECT COUNT(*) FROM forum_posts WHERE {where}", (post_id, ts)))
        return [PostRow(**decode(r)) for r in reversed(rows)], count
