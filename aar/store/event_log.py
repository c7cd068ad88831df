"""The append-only event log: buffered, batched, followed by id.

Events are appended in batches: ``emit`` only buffers, a background task
commits the buffer every ``flush_interval`` seconds (or when it holds
``batch_size`` events), and ``flush`` commits at once. Readers follow
``id > last_seen``; the primary key makes the newest events as cheap to read
in a run of a million events as in a run of a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import aiosqlite

from aar.clock import SYSTEM_CLOCK, Clock
from aar.disk import is_disk_full
from aar.errors import StoreError
from aar.events import EventPayload
from aar.store import cost_ledger
from aar.store.connection import INSERT_EVENTS, Connection
from aar.store.rows import EventRow, RawEventRow

EVENT_COLUMNS = "id, ts, agent, kind, payload"

EventListener = Callable[[str | None, EventPayload], None]
"""Called with ``(agent, payload)`` as each event is emitted; must be quick and must not raise."""


_NAME = re.compile(r"^\$?[a-z_.]+$")


def _literal(name: str) -> str:
    """An event kind or a payload path as an SQL string literal; refuses anything else."""
    if not _NAME.match(name):
        raise ValueError(f"not an event kind or payload field: {name!r}")
    return f"'{name}'"


class EventLog(Connection):
    """The ``events`` table and the background flusher that batches its writes."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        batch_size: int,
        flush_interval: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(db, path, clock=clock)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._buffer: list[tuple[float, str | None, str, str]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._pending = asyncio.Event()
        self._full = asyncio.Event()
        self._closed = False
        self.on_disk_full: Callable[[str, BaseException], None] | None = None
        """Told when a commit failed for want of space (the daemon's disk guard listens)."""
        self._listeners: dict[str, list[EventListener]] = {}
        """Listeners by the event kind they hear."""

    def subscribe(self, listener: EventListener, kinds: Iterable[str]) -> Callable[[], None]:
        """Hear every event of ``kinds`` this process emits, as it is emitted (the daemon's monitors read the
        stream live, so they act within the step that fired them; an event of another kind costs them nothing);
        returns the call that unsubscribes."""
        heard = frozenset(kinds)
        for kind in heard:
            self._listeners.setdefault(kind, []).append(listener)

        def unsubscribe() -> None:
            for kind in heard:
                self._listeners[kind].remove(listener)

        return unsubscribe

    async def close(self) -> None:
        """Commit what is buffered and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            # Wake the loop and let it return: cancelling it can be swallowed by
            # ``wait_for`` on Python 3.11 and leave ``close`` waiting forever.
            self._pending.set()
            self._full.set()
            await self._flusher
        await self.flush()
        await self._db.close()

    def emit(self, agent: str | None, payload: EventPayload) -> None:
        """Buffer one event; it is committed within ``flush_interval`` seconds."""
        self._buffer.append((time.time(), agent, payload.kind, payload.model_dump_json()))
        self._buffered()
        self._tell(agent, payload)

    def _tell(self, agent: str | None, payload: EventPayload) -> None:
        for listener in self._listeners.get(payload.kind, ()):
            listener(agent, payload)

    def emit_raw(self, rows: Iterable[tuple[str | None, str, str]]) -> None:
        """Buffer already-serialised ``(agent, kind, payload_json)`` events (bulk writers)."""
        now = time.time()
        self._buffer.extend((now, agent, kind, payload) for agent, kind, payload in rows)
        self._buffered()

    def _buffered(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop(), name="store-flusher")
        self._pending.set()
        if len(self._buffer) >= self._batch_size:
            self._full.set()

    async def _flush_loop(self) -> None:
        """Commit the buffer ``flush_interval`` after the first event, or at once when a batch is full."""
        while True:
            await self._pending.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._flush_interval)
            if self._closed:
                return
            self._pending.clear()
            self._full.clear()
            try:
                await self.flush()
            except sqlite3.Error as exc:
                # The batch went back to the buffer; try again rather than lose it.
                if self.on_disk_full is not None and is_disk_full(exc):
                    self.on_disk_full("the event log", exc)
                self._pending.set()
                await asyncio.sleep(self._flush_interval)

    async def flush(self) -> int:
        """Commit every buffered event now; returns the id of the last one committed (0 if none)."""
        async with self._lock:
            # Swapping under the lock keeps batches in emit order whatever the callers interleave.
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            try:
                await self._begin()
                await self._db.executemany(INSERT_EVENTS, batch)
                last = await self._scalar("SELECT last_insert_rowid()")
                await self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                self._buffer[:0] = batch
                raise
            return int(last)

    async def _insert_buffered_events(self) -> Callable[[], None]:
        batch, self._buffer = self._buffer, []

        def put_back() -> None:
            self._buffer[:0] = batch

        try:
            await self._db.executemany(INSERT_EVENTS, batch)
        except BaseException:
            put_back()
            raise
        return put_back

    async def append(self, agent: str | None, payload: EventPayload) -> int:
        """Write one event and commit it now; returns its id."""
        self.emit(agent, payload)
        return await self.flush()

    # ------------------------------------------------------------ reads: events

    async def events_after(
        self,
        last_id: int = 0,
        *,
        limit: int = 1000,
        agent: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[EventRow]:
        """Events with ``id > last_id`` in id order (what a follower polls), each payload parsed once (a model,
        or ``Unreadable``)."""
        sql, args = self._after(last_id, limit=limit, agent=agent, kinds=kinds)
        return [EventRow.read(r) for r in await self._fetch(sql, args)]

    async def raw_events_after(
        self, last_id: int = 0, *, limit: int = 1000, kinds: Sequence[str] | None = None
    ) -> list[RawEventRow]:
        """Events after ``last_id`` with their payloads as stored (JSON text), for code that copies rows
        without reading them; readers take ``events_after``."""
        sql, args = self._after(last_id, limit=limit, agent=None, kinds=kinds)
        return [RawEventRow(**dict(r)) for r in await self._fetch(sql, args)]

    @staticmethod
    def _after(
        last_id: int, *, limit: int, agent: str | None, kinds: Sequence[str] | None
    ) -> tuple[str, tuple[object, ...]]:
        where: list[str] = ["id > ?"]
        args: list[object] = [last_id]
        if agent is not None:
            where.append("agent = ?")
            args.append(agent)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        return f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*args, limit)

    async def tally_by_agent(
        self,
        kind: str,
        after_id: int,
        *,
        upto_id: int | None = None,
        total: str | None = None,
        where: tuple[str, Sequence[str]] | None = None,
    ) -> dict[str | None, float]:
        """Per agent, over the events of ``kind`` after ``after_id`` (and up to ``upto_id``): the sum of the
        payload field ``total``, or their count; with ``where`` = (field, values), only those whose field is
        one of the values. Done in SQL on the (kind, id) index: no payload is parsed in Python. The kind and
        the field of ``where`` are written into the SQL, so that an index on that field of that kind (the
        agents' statuses, ``events_status``) serves it; both come from aar's code, never from an agent."""
        value = "SUM(json_extract(payload, ?))" if total else "COUNT(*)"
        args: list[object] = [f"$.{total}"] if total else []
        sql = f"SELECT agent, {value} FROM events WHERE kind = {_literal(kind)} AND id > ?"
        args.append(after_id)
        if upto_id is not None:
            sql += " AND id <= ?"
            args.append(upto_id)
        if where is not None:
            field, values = where
            sql += f" AND json_extract(payload, {_literal('$.' + field)}) IN ({','.join('?' * len(values))})"
            args += values
        rows = await self._fetch(sql + " GROUP BY agent", args)
        return {r[0]: float(r[1] or 0) for r in rows}

    async def tool_costs(self, *, since: float = 0.0) -> list[tuple[str, str, int, float]]:
        """``(agent, tool, calls, usd)`` summed over the cost ledger's rows from ``since`` on
        (``aar.store.cost_ledger``)."""
        rows = await self._fetch(cost_ledger.BY_TOOL, (since, cost_ledger.first_minute(since)))
        return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    async def event_values(
        self, kinds: Sequence[str], field: str, *, after_id: int = 0
    ) -> list[tuple[int, float, str | None, float]]:
        """``(id, ts, agent, value)`` of every event of ``kinds`` after ``after_id``, in id order, ``value`` the
        payload's number ``field`` (0 where it has none): read in SQL on the (kind, id) index, no payload parsed
        in Python. A running total over time (the spend behind ``aar.progress``) folds these few columns."""
        marks = ",".join("?" * len(kinds))
        rows = await self._fetch(
            f"SELECT id, ts, agent, COALESCE(json_extract(payload, ?), 0) FROM events WHERE kind IN ({marks})"
            " AND id > ? ORDER BY id",
            [f"$.{field}", *kinds, after_id],
        )
        return [(int(r[0]), float(r[1]), r[2], float(r[3])) for r in rows]

    async def events_of(
        self,
        kinds: Sequence[str] | None,
        *,
        agent: str | None = None,
        after_id: int = 0,
        upto_id: int | None = None,
        only: Mapping[str, tuple[str, Sequence[str | int]]] | None = None,
        newest: int | None = None,
    ) -> list[EventRow]:
        """The events of ``kinds`` (every kind: None) of ``agent`` after ``after_id`` and up to ``upto_id``, in id
        order, each payload parsed once; ``newest``: only the newest so many. Read on the (kind, id) index (or
        (agent, id) for one agent), so a timeline's few thousand marks come out of a million events without
        reading the rest. ``only`` keeps, of a kind, the events whose payload field is one of the values
        (``{"agent.status": ("status", ["paused"])}``), tested in SQL: no other payload is parsed."""
        where: list[str] = ["id > ?"]
        args: list[object] = [after_id]
        if kinds is not None:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if agent is not None:
            where.append("agent = ?")
            args.append(agent)
        if upto_id is not None:
            where.append("id <= ?")
            args.append(upto_id)
        if only:
            tests = [f"kind NOT IN ({','.join('?' * len(only))})"]
            args.extend(only)
            for kind, (field, values) in only.items():
                tests.append(f"(kind = ? AND json_extract(payload, ?) IN ({','.join('?' * len(values))}))")
                args.extend([kind, f"$.{field}", *values])
            where.append(f"({' OR '.join(tests)})")
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)}"
        if newest is None:
            rows = await self._fetch(sql + " ORDER BY id", args)
        else:
            rows = list(reversed(await self._fetch(sql + " ORDER BY id DESC LIMIT ?", [*args, newest])))
        return [EventRow.read(r) for r in rows]

    async def first_event_at(self, ts: float) -> int:
        """The id of the first event written at or after ``ts`` (one past the last when none): a binary search
        on ids, whose times grow with them, so a moment of a long run is found in a few reads."""
        lo, hi = 1, await self.last_event_id() + 1
        while lo < hi:
            mid = (lo + hi) // 2
            row = await self._fetchone("SELECT ts FROM events WHERE id >= ? ORDER BY id LIMIT 1", (mid,))
            if row is None or row[0] >= ts:
                hi = mid
            else:
                lo = mid + 1
        return lo

    async def latest_events(
        self, n: int = 1000, *, agent: str | None = None, upto_id: int | None = None
    ) -> list[EventRow]:
        """The newest ``n`` events (of one agent; at or before ``upto_id``, a replay's moment), oldest first: what
        an attaching view shows."""
        where: list[str] = []
        args: list[object] = []
        if agent is not None:
            where.append("agent = ?")
            args.append(agent)
        if upto_id is not None:
            where.append("id <= ?")
            args.append(upto_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._fetch(f"SELECT {EVENT_COLUMNS} FROM events{clause} ORDER BY id DESC LIMIT ?", (*args, n))
        return [EventRow.read(r) for r in reversed(rows)]

    async def last_event_id(self) -> int:
        return int(await self._scalar("SELECT COALESCE(MAX(id), 0) FROM events"))

    async def event_count(self) -> int:
        return int(await self._scalar("SELECT COUNT(*) FROM events"))

    async def event_beside(
        self, event_id: int, direction: int, *, kinds: Sequence[str] | None = None
    ) -> tuple[int, float] | None:
        """``(id, ts)`` of the first event after ``event_id`` (``direction`` > 0) or the last before it (< 0),
        of ``kinds`` when given (on the (kind, id) index); None at either end of the log."""
        after = direction > 0
        sql = f"SELECT id, ts FROM events WHERE id {'>' if after else '<'} ?"
        args: list[object] = [event_id]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        row = await self._fetchone(sql + f" ORDER BY id {'' if after else 'DESC'} LIMIT 1", args)
        return None if row is None else (int(row[0]), float(row[1]))
