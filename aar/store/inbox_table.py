"""The supervisor's inbox (derived from the event log), and its acknowledgements.

The daemon folds events into ``inbox`` (``fold_inbox_batch``): one
transaction per batch reads the events of the kinds the inbox looks at,
derives the batch in memory and writes its items, its clearings and the
cursor together. An item is keyed by its source event, so a batch folded
twice (two folders at once, or a crash between two writes) adds nothing.
``rebuild_inbox`` derives it again from the whole log. Acknowledgements live
in ``inbox_acks`` (written by the TUI or the CLI); a rebuild keeps them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aar.escape import one_line
from aar.events import EVENT_KINDS
from aar.inbox import ALERT, KINDS, WAITS, Clear, NewItem, derive
from aar.store.connection import Connection
from aar.store.event_log import EVENT_COLUMNS
from aar.store.rows import EventRow, InboxRow

log = logging.getLogger("aar.inbox")

CURSOR_META = "inbox_cursor"
"""Meta key: the id of the last event folded into the inbox."""

_OPEN = "i.cleared_event IS NULL AND a.source_event IS NULL"
_FROM = "FROM inbox i LEFT JOIN inbox_acks a USING (source_event)"


def _open_at(event_id: int, ts: float) -> str:
    """SQL for an item open as of event ``event_id`` (at ``ts``): raised by then, neither settled nor
    acknowledged by then. Numbers only, typed here, so they are written into the SQL."""
    upto = int(event_id)
    return (
        f"i.source_event <= {upto} AND (i.cleared_event IS NULL OR i.cleared_event > {upto})"
        f" AND (a.source_event IS NULL OR a.ts > {float(ts)!r})"
    )


def _subject(alias: str) -> str:
    """SQL for what an item is about: its post, else its submission, else its job, else its agent's tool
    call, else the item alone. The inbox lists one row per subject: a contradicted post's monitor flag and
    its claim checks are one row with three reasons."""
    return (
        f"CASE WHEN {alias}.post_id IS NOT NULL THEN 'post:' || {alias}.post_id"
        f" WHEN {alias}.submission_id IS NOT NULL THEN 'submission:' || {alias}.submission_id"
        f" WHEN {alias}.job_id IS NOT NULL THEN 'job:' || {alias}.job_id"
        f" WHEN {alias}.agent IS NOT NULL AND {alias}.call_id IS NOT NULL"
        f" THEN 'call:' || {alias}.agent || ':' || {alias}.call_id"
        f" ELSE 'item:' || {alias}.id END"
    )


_GROUPED = (
    # Every item with its subject, and its place in its group: open items group apart from settled ones,
    # the most urgent (then newest) first.
    "WITH items AS (SELECT i.*, a.by AS ack_by, a.ts AS ack_ts, " + _subject("i") + " AS subject,"
    f" CASE WHEN {{live}} THEN 1 ELSE 0 END AS live {_FROM}{{where}}),"
    " grouped AS (SELECT *, ROW_NUMBER() OVER per_subject AS nth, COUNT(*) OVER (PARTITION BY subject, live) AS size"
    " FROM items WINDOW per_subject AS (PARTITION BY subject, live ORDER BY rank, id DESC))"
)
_RANKED = (
    _GROUPED + " SELECT *, MIN(rank) OVER per_agent AS group_rank, MAX(id) OVER per_agent AS group_top"
    " FROM grouped WHERE nth = 1"
    " WINDOW per_agent AS (PARTITION BY CASE WHEN agent IS NULL OR rank > 1 THEN 'item:' || id"
    " ELSE 'agent:' || agent END)"
    " ORDER BY group_rank, group_top DESC, agent, rank, id DESC LIMIT ?"
)
_MEMBERS = _GROUPED + " SELECT id, summary, subject, live FROM grouped WHERE size > 1 ORDER BY subject, live, nth"
_GROUP_FIELDS = frozenset({"live", "nth", "size", "group_rank", "group_top"})
_KNOWN = tuple(sorted(EVENT_KINDS))


def _marks(values: Sequence[str]) -> str:
    return ",".join("?" * len(values))


_SET_CURSOR = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


SEEN_META = "supervisor_seen_ts"
"""The run's ``meta`` key: when the supervisor last detached (epoch seconds); the digest starts there."""


class InboxTable(Connection):
    async def inbox_cursor(self) -> int:
        return int(await self.get_meta(CURSOR_META, "0") or 0)

    async def fold_inbox_batch(self, *, limit: int = 5000) -> int:
        """Fold the next events after the cursor (at most ``limit`` of the kinds the inbox reads, and of kinds
        this aar does not know, which it reports) in one transaction; returns how many were read."""
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? AND id <= ?"
            f" AND (kind IN ({_marks(KINDS)}) OR kind NOT IN ({_marks(_KNOWN)})) ORDER BY id LIMIT ?"
        )
        last = int(await self._scalar("SELECT COALESCE(MAX(id), 0) FROM events"))
        if last <= await self._cursor():
            return 0  # nothing new: no write transaction (the evaluator worker and the TUI write too)
        async with self._transaction():
            cursor = await self._cursor()
            top = int(await self._scalar("SELECT COALESCE(MAX(id), 0) FROM events"))
            async with self._db.execute(sql, (cursor, top, *KINDS, *_KNOWN, limit)) as cur:
                rows = [EventRow.read(r) for r in await cur.fetchall()]
            await self._fold(rows)
            done = rows[-1].id if len(rows) == limit else top
            if done > cursor:
                await self._db.execute(_SET_CURSOR, (CURSOR_META, str(done)))
        return len(rows)

    async def fold_inbox(self, events: Sequence[EventRow]) -> None:
        """Fold these events (in id order; those at or before the cursor are skipped) in one transaction."""
        async with self._transaction():
            cursor = await self._cursor()
            fresh = [e for e in events if e.id > cursor]
            await self._fold(fresh)
            if fresh:
                await self._db.execute(_SET_CURSOR, (CURSOR_META, str(fresh[-1].id)))

    async def _cursor(self) -> int:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_META,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _fold(self, events: Sequence[EventRow]) -> None:
        """Derive a batch in memory, then write it in a few statements (inside the caller's transaction).

        Clearings apply to the open waits already stored (few: approvals and questions in flight) and to
        the items this batch raised before them."""
        waits = ",".join("?" * len(WAITS))
        sql = f"SELECT id, agent, kind, call_id FROM inbox WHERE cleared_event IS NULL AND kind IN ({waits})"
        async with self._db.execute(sql, WAITS) as cur:
            stored = [_Wait(r[1], r[2], r[3], item_id=r[0]) for r in await cur.fetchall()]
        new: list[tuple[EventRow, NewItem, _Wait]] = []
        cleared: list[tuple[int, int]] = []

        def clear(rule: Clear, event_id: int) -> None:
            for wait in (*stored, *(w for _, _, w in new)):
                if wait.cleared is None and wait.matches(rule):
                    wait.cleared = event_id
                    if wait.item_id is not None:
                        cleared.append((event_id, wait.item_id))

        for event in events:
            try:
                effect = derive(event)
            except Exception as exc:  # a bug must cost one event, not stall every later one behind it
                log.exception("inbox: deriving event %d failed", event.id)
                effect = NewItem("error", ALERT, one_line(f"event {event.id} ({event.kind}) skipped: {exc!r}", 300))
            if isinstance(effect, NewItem):
                if effect.kind in WAITS and effect.call_id is not None and event.agent is not None:
                    # Asked again (a resumed agent redoing its step): the new item supersedes the old.
                    clear(Clear(event.agent, (effect.kind,), effect.call_id), event.id)
                new.append((event, effect, _Wait(event.agent, effect.kind, effect.call_id)))
            elif isinstance(effect, Clear):
                clear(effect, event.id)
        if new:
            await self._db.executemany(
                "INSERT OR IGNORE INTO inbox (source_event, ts, agent, kind, rank, summary, call_id, post_id,"
                " submission_id, job_id, cleared_event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.id,
                        e.ts,
                        e.agent,
                        i.kind,
                        i.rank,
                        i.summary,
                        i.call_id,
                        i.post_id,
                        i.submission_id,
                        i.job_id,
                        w.cleared,
                    )
                    for e, i, w in new
                ],
            )
        if cleared:
            await self._db.executemany(
                "UPDATE inbox SET cleared_event = ? WHERE id = ? AND cleared_event IS NULL", cleared
            )

    async def rebuild_inbox(self) -> None:
        """Forget the derived items and derive them again from the whole log (acknowledgements stay)."""
        from aar.inbox import catch_up

        async with self._transaction():
            await self._db.execute("DELETE FROM inbox")
            await self._db.execute("DELETE FROM meta WHERE key = ?", (CURSOR_META,))
        await catch_up(self)

    async def inbox(
        self, *, open_only: bool = True, limit: int = 500, as_of: tuple[int, float] | None = None
    ) -> list[InboxRow]:
        """One row per subject (``_subject``: a post, a submission, a job, a tool call), its most urgent item
        with every item's reason (``reasons``, ``item_ids``), ranked: blocking first, then alerts, then
        notices, newest first; but an agent's blocking items and alerts stay together, at the rank of the
        most urgent of them, so the alert about an agent that asks is read with its question, not below every
        other agent's questions. Items of the run (no agent) and notices stand alone.

        ``as_of`` = (event id, its time): the inbox as it was then (a replay): items raised by that event, open
        if neither settled nor acknowledged by then, with what came later left out of their rows."""
        live = _OPEN if as_of is None else _open_at(*as_of)
        where = f" WHERE {live}" if open_only else ""
        if as_of is not None and not open_only:
            where = f" WHERE i.source_event <= {int(as_of[0])}"
        heads = await self._fetch(_RANKED.format(live=live, where=where), (limit,))
        members: dict[tuple[str, int], list[tuple[int, str]]] = {}
        if any(h["size"] > 1 for h in heads):
            for m in await self._fetch(_MEMBERS.format(live=live, where=where)):
                members.setdefault((m["subject"], m["live"]), []).append((m["id"], m["summary"]))
        rows = []
        for head in heads:
            group = members.get((head["subject"], head["live"]), [(head["id"], head["summary"])])
            fields = {k: v for k, v in dict(head).items() if k not in _GROUP_FIELDS}
            rows.append(InboxRow(**fields, item_ids=[i for i, _ in group], reasons=[r for _, r in group]))
        return rows if as_of is None else [_then(row, *as_of) for row in rows]

    async def inbox_newest_id(self) -> int:
        """The id of the newest inbox item (0 when none)."""
        return int(await self._scalar("SELECT COALESCE(MAX(id), 0) FROM inbox"))

    async def inbox_items_after(self, after_id: int, *, limit: int = 500) -> list[InboxRow]:
        """Inbox items raised after ``after_id``, one row each (not grouped), oldest first: what a notifier
        sends on."""
        rows = await self._fetch(
            "SELECT i.*, a.by AS ack_by, a.ts AS ack_ts FROM inbox i LEFT JOIN inbox_acks a USING (source_event)"
            " WHERE i.id > ? ORDER BY i.id LIMIT ?",
            (after_id, limit),
        )
        return [InboxRow(**dict(r), item_ids=[r["id"]], reasons=[r["summary"]]) for r in rows]

    async def inbox_open_count(self, *, as_of: tuple[int, float] | None = None) -> int:
        """Open rows of the inbox: subjects with an open item (as of an event and its time, with ``as_of``)."""
        live = _OPEN if as_of is None else _open_at(*as_of)
        return int(await self._scalar(f"SELECT COUNT(DISTINCT {_subject('i')}) {_FROM} WHERE {live}"))

    async def mark_seen(self, ts: float) -> None:
        """The supervisor detached at ``ts``: where the next digest starts (``SEEN_META``)."""
        await self.set_meta(SEEN_META, f"{ts:.3f}")

    async def acknowledge(self, item_ids: Sequence[int], by: str) -> int:
        """Record that ``by`` saw these items and the open items of their subjects (a row of the inbox is
        acknowledged whole), now; returns how many items were newly acknowledged."""
        now = time.time()
        sql = (
            f"INSERT OR IGNORE INTO inbox_acks (source_event, by, ts) SELECT i.source_event, ?, ? {_FROM}"
            f" WHERE i.id = ? OR ({_OPEN} AND {_subject('i')} = (SELECT {_subject('o')} FROM inbox o WHERE o.id = ?))"
        )
        async with self._transaction():
            before = self._db.total_changes
            for item_id in item_ids:
                await self._db.execute(sql, (by, now, item_id, item_id))
            return self._db.total_changes - before


def _then(row: InboxRow, event_id: int, ts: float) -> InboxRow:
    """``row`` as it was at event ``event_id`` (at ``ts``): a settlement or an acknowledgement after it unsaid."""
    update: dict[str, object] = {}
    if row.cleared_event is not None and row.cleared_event > event_id:
        update["cleared_event"] = None
    if row.ack_ts is not None and row.ack_ts > ts:
        update |= {"ack_by": None, "ack_ts": None}
    return row.model_copy(update=update) if update else row


@dataclass
class _Wait:
    """An item that may be settled by a later event of the batch: stored (``item_id``) or raised by it."""

    agent: str | None
    kind: str
    call_id: str | None
    item_id: int | None = None
    cleared: int | None = None

    def matches(self, rule: Clear) -> bool:
        return (
            self.agent == rule.agent
            and self.kind in rule.kinds
            and (rule.call_id is None or self.call_id == rule.call_id)
        )
