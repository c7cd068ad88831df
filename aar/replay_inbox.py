"""The supervisor's inbox as it was at an event, for a replay.

The inbox table answers "as of then" itself: an item is keyed by the event that raised it and records the
event that settled it, and an acknowledgement has its time, so the items open then are those raised by then
and neither settled nor acknowledged by then (``InboxTable.inbox(as_of=...)``). That is exact for every
event the daemon's inbox builder has folded. Past its cursor (the last quarter second of a live run, or the
tail of a run whose daemon died before folding it) the items are derived here from those events with the
builder's own ``derive`` and settling rule; they are listed beside the table's rows, each on its own row
unless a row of the table is about the same subject, and carry negative ids (they are in no table yet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aar.escape import one_line
from aar.events import EVENT_KINDS
from aar.inbox import ALERT, KINDS, WAITS, Clear, NewItem, derive
from aar.store.protocols import StoreReader
from aar.store.rows import EventRow, InboxRow

log = logging.getLogger("aar.replay")

READ_BATCH = 2000
ALL = 100_000
"""Rows read from the table when the builder lags (every open row, to settle and count them)."""


async def inbox_then(store: StoreReader, event_id: int, ts: float, *, limit: int) -> tuple[list[InboxRow], int]:
    """The open rows of the inbox at event ``event_id`` (at ``ts``), ranked (the first ``limit``), and how many
    rows were open then."""
    as_of = (event_id, ts)
    cursor = await store.inbox_cursor()
    if cursor >= event_id:
        return await store.inbox(limit=limit, as_of=as_of), await store.inbox_open_count(as_of=as_of)
    rows = await store.inbox(limit=ALL, as_of=as_of)
    merged = _merge(rows, await _unfolded(store, cursor, event_id))
    return merged[:limit], len(merged)


async def _unfolded(store: StoreReader, cursor: int, event_id: int) -> list[EventRow]:
    """The events after the builder's cursor up to ``event_id`` that the builder would read."""
    out: list[EventRow] = []
    after = cursor
    while after < event_id:
        batch = await store.events_after(after, limit=min(READ_BATCH, event_id - after))
        if not batch:
            break
        out += [e for e in batch if e.id <= event_id and (e.kind in KINDS or e.kind not in EVENT_KINDS)]
        after = batch[-1].id
    return out


@dataclass
class _Raised:
    event: EventRow
    item: NewItem
    settled: bool = False


def _merge(rows: list[InboxRow], events: list[EventRow]) -> list[InboxRow]:
    """The table's open rows, less the waits these events settle, with the items they raise (``derive``)."""
    settled: set[int] = set()
    raised: list[_Raised] = []

    def settle(rule: Clear) -> None:
        for row in rows:
            if row.kind in WAITS and _matches(rule, row.agent, row.kind, row.call_id):
                settled.add(row.id)
        for new in raised:
            if not new.settled and _matches(rule, new.event.agent, new.item.kind, new.item.call_id):
                new.settled = True

    for event in events:
        try:
            effect = derive(event)
        except Exception as exc:  # as the builder does: a bug costs one event
            log.exception("inbox: deriving event %d failed", event.id)
            effect = NewItem("error", ALERT, one_line(f"event {event.id} ({event.kind}) skipped: {exc!r}", 300))
        if isinstance(effect, NewItem):
            if effect.kind in WAITS and effect.call_id is not None and event.agent is not None:
                settle(Clear(event.agent, (effect.kind,), effect.call_id))  # asked again: the new one stands
            raised.append(_Raised(event, effect))
        elif isinstance(effect, Clear):
            settle(effect)
    kept = [row for row in rows if row.id not in settled]
    by_subject = {row.subject: i for i, row in enumerate(kept)}
    fresh: list[InboxRow] = []
    for new in reversed(raised):  # newest first, as the table ranks them
        if new.settled:
            continue
        row = _row(new)
        if row.subject in by_subject:
            i = by_subject[row.subject]
            kept[i] = kept[i].model_copy(
                update={"item_ids": [*kept[i].item_ids, row.id], "reasons": [*kept[i].reasons, row.summary]}
            )
        else:
            fresh.append(row)
    return sorted(fresh + kept, key=lambda r: r.rank)  # stable: within a rank, the new ones first


def _matches(rule: Clear, agent: str | None, kind: str, call_id: str | None) -> bool:
    return agent == rule.agent and kind in rule.kinds and (rule.call_id is None or call_id == rule.call_id)


def _row(new: _Raised) -> InboxRow:
    event, item = new.event, new.item
    return InboxRow(
        id=-event.id,
        source_event=event.id,
        ts=event.ts,
        agent=event.agent,
        kind=item.kind,
        rank=item.rank,
        summary=item.summary,
        call_id=item.call_id,
        post_id=item.post_id,
        submission_id=item.submission_id,
        job_id=item.job_id,
        subject=_subject(event.id, event.agent, item),
        item_ids=[-event.id],
        reasons=[item.summary],
    )


def _subject(item_id: int, agent: str | None, item: NewItem) -> str:
    """What an item is about, as the table says it (``inbox_table._subject``)."""
    if item.post_id is not None:
        return f"post:{item.post_id}"
    if item.submission_id is not None:
        return f"submission:{item.submission_id}"
    if item.job_id is not None:
        return f"job:{item.job_id}"
    if agent is not None and item.call_id is not None:
        return f"call:{agent}:{item.call_id}"
    return f"item:{-item_id}"
