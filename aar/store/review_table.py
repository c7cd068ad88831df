"""The supervisor's verdicts on submissions: a ``review.verdict`` event and a forum post, written together.

The event log is a verdict's only record: the latest verdict on each submission is folded from its
``review.verdict`` events (on the (kind, id) index), so every earlier verdict stays in the history. The
forum post, from ``supervisor``, is how the team hears of it: agents read it with ``forum_read`` like any
post. Any process may record one, whether a daemon drives the run or not: the post and the event commit in
one ``BEGIN IMMEDIATE`` transaction, queued on the busy timeout like the TUI's commands.
"""

from __future__ import annotations

import time
from typing import Any

from aar.errors import AarError
from aar.events import ReviewVerdict, Verdict
from aar.store.connection import INSERT_EVENTS, Connection
from aar.store.event_log import EVENT_COLUMNS
from aar.store.rows import EventRow, SubmissionRow, VerdictRow, decode

SUPERVISOR = "supervisor"
"""The forum author of a verdict's post (the TUI posts under the same name)."""
KIND = ReviewVerdict.model_fields["kind"].default


class SubmissionNotFound(AarError):
    """A verdict names a submission the run does not have."""


def verdict_post(sub: SubmissionRow, verdict: Verdict, note: str) -> tuple[str, str]:
    """The title and body of the post that tells the team: ``Review of submission #7 (method.py by agent-2):
    reject — overfits the feedback split``."""
    said = f"Review of submission #{sub.id} ({sub.label or sub.kind} by {sub.agent}): {verdict}"
    return f"Review of submission #{sub.id}: {verdict}", said + (f" — {note}" if note else "")


def _verdict(row: EventRow, payload: ReviewVerdict) -> VerdictRow:
    return VerdictRow(
        event_id=row.id,
        ts=row.ts,
        agent=row.agent,
        **payload.model_dump(include={"submission_id", "verdict", "note", "by", "post_id"}),
    )


class ReviewTable(Connection):
    async def record_verdict(self, submission_id: int, verdict: Verdict, note: str, *, by: str) -> VerdictRow:
        """Record a verdict on a submission of any kind and post it to the forum as ``supervisor``; raises
        ``SubmissionNotFound`` for an id the run does not have."""
        async with self._transaction():
            found = await self._fetchone("SELECT * FROM submissions WHERE id = ?", (submission_id,))
            if found is None:
                raise SubmissionNotFound(f"no submission #{submission_id} in this run")
            sub = SubmissionRow(**decode(found))
            title, body = verdict_post(sub, verdict, note)
            now = time.time()
            post_id = await self._insert_row(
                "INSERT INTO forum_posts (ts, author, title, body) VALUES (?, ?, ?, ?)", (now, SUPERVISOR, title, body)
            )
            payload = ReviewVerdict(submission_id=sub.id, verdict=verdict, note=note, by=by, post_id=post_id)
            event_id = await self._insert_row(INSERT_EVENTS, (now, sub.agent, payload.kind, payload.model_dump_json()))
        return _verdict(EventRow(id=event_id, ts=now, agent=sub.agent, kind=payload.kind, payload=payload), payload)

    async def _insert_row(self, sql: str, args: tuple[Any, ...]) -> int:
        """Inside a transaction the caller holds: insert one row, return its id."""
        async with self._db.execute(sql, args) as cur:
            if cur.lastrowid is None:
                raise AarError(f"{self.path}: {sql!r} inserted no row")
            return int(cur.lastrowid)

    async def verdict_history(self, submission_id: int | None = None) -> list[VerdictRow]:
        """Every verdict (on one submission), oldest first; an unreadable event is skipped."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE kind = ?"
        args: tuple[object, ...] = (KIND,)
        if submission_id is not None:
            sql += " AND json_extract(payload, '$.submission_id') = ?"
            args += (submission_id,)
        out = []
        for raw in await self._fetch(sql + " ORDER BY id", args):
            row = EventRow.read(raw)
            if isinstance(row.payload, ReviewVerdict):
                out.append(_verdict(row, row.payload))
        return out

    async def verdicts(self) -> dict[int, VerdictRow]:
        """The verdict that stands on each reviewed submission: its latest."""
        return {v.submission_id: v for v in await self.verdict_history()}
