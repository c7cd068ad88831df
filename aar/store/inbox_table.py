"""The supervisor's inbox (derived from the event log), its acknowledgements, and budget changes.

The daemon folds events into ``inbox`` (``fold_inbox``): one transaction per
batch writes the items, the clearings and the cursor together, and an item is
keyed by its source event, so a batch folded twice (a crash between the two)
adds nothing. ``rebuild_inbox`` derives it again from the whole log.
Acknowledgements live in ``inbox_acks`` (written by the TUI or the CLI); a
rebuild keeps them. Budget changes are written together with the mark of the
command that made them, so a command applies exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aar.inbox import Clear, NewItem, derive
from aar.store.connection import Connection
from aar.store.rows import EventRow, InboxRow

CURSOR_META = "inbox_cursor"
"""Meta key: the id of the last event folded into the inbox."""

_OPEN = "i.cleared_event IS NULL AND a.source_event IS NULL"
_SELECT = "SELECT i.*, a.by AS ack_by, a.ts AS ack_ts FROM inbox i LEFT JOIN inbox_acks a USING (source_event)"


class InboxTable(Connection):
    async def inbox_cursor(self) -> int:
        return int(await self.get_meta(CURSOR_META, "0") or 0)

    async def fold_inbox(self, events: Sequence[EventRow]) -> None:
        """Fold a batch of events (in id order, after the cursor) into the inbox, in one transaction."""
        if not events:
            return
        async with self._transaction():
            async with self._db.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_META,)) as cur:
                row = await cur.fetchone()
            cursor = int(row[0]) if row else 0
            for event in events:
                if event.id <= cursor:
                    continue  # another folder got here first
                effect = derive(event)
                if isinstance(effect, NewItem):
                    if effect.call_id is not None and event.agent is not None:
                        # Asked again (a resumed agent redoing its step): the new item supersedes the old.
                        await self._clear(Clear(event.agent, (effect.kind,), effect.call_id), event.id)
                    await self._db.execute(
                        "INSERT OR IGNORE INTO inbox (source_event, ts, agent, kind, rank, summary, call_id, post_id,"
                        " submission_id, job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            event.id,
                            event.ts,
                            event.agent,
                            effect.kind,
                            effect.rank,
                            effect.summary,
                            effect.call_id,
                            effect.post_id,
                            effect.submission_id,
                            effect.job_id,
                        ),
                    )
                elif isinstance(effect, Clear):
                    await self._clear(effect, event.id)
            await self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (CURSOR_META, str(max(cursor, events[-1].id))),
            )

    async def _clear(self, clear: Clear, event_id: int) -> None:
        kinds = ",".join("?" * len(clear.kinds))
        sql = f"UPDATE inbox SET cleared_event = ? WHERE cleared_event IS NULL AND agent = ? AND kind IN ({kinds})"
        args: list[Any] = [event_id, clear.agent, *clear.kinds]
        if clear.call_id is not None:
            sql += " AND call_id = ?"
            args.append(clear.call_id)
        await self._db.execute(sql, args)

    async def rebuild_inbox(self) -> None:
        """Forget the derived items and derive them again from the whole log (acknowledgements stay)."""
        from aar.inbox import catch_up

        async with self._transaction():
            await self._db.execute("DELETE FROM inbox")
            await self._db.execute("DELETE FROM meta WHERE key = ?", (CURSOR_META,))
        await catch_up(self)  # type: ignore[arg-type]

    async def inbox(self, *, open_only: bool = True, limit: int = 500) -> list[InboxRow]:
        """Items ranked: blocking first, then alerts, then the rest; newest first within a rank."""
        where = f" WHERE {_OPEN}" if open_only else ""
        rows = await self._fetch(f"{_SELECT}{where} ORDER BY i.rank, i.id DESC LIMIT ?", (limit,))
        return [InboxRow(**dict(r)) for r in rows]

    async def inbox_item(self, item_id: int) -> InboxRow | None:
        row = await self._fetchone(f"{_SELECT} WHERE i.id = ?", (item_id,))
        return InboxRow(**dict(row)) if row else None

    async def inbox_open_count(self) -> int:
        row = await self._fetchone(
            f"SELECT COUNT(*) FROM inbox i LEFT JOIN inbox_acks a USING (source_event) WHERE {_OPEN}"
        )
        return int(row[0])

    async def acknowledge(self, item_ids: Sequence[int], by: str) -> int:
        """Record that ``by`` saw these items (now); returns how many were newly acknowledged."""
        now = time.time()
        async with self._transaction():
            before = self._db.total_changes
            for item_id in item_ids:
                await self._db.execute(
                    "INSERT OR IGNORE INTO inbox_acks (source_event, by, ts)"
                    " SELECT source_event, ?, ? FROM inbox WHERE id = ?",
                    (by, now, item_id),
                )
            return self._db.total_changes - before
