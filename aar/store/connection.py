"""The connection every part of the run store shares, and its write discipline.

Every write holds one asyncio lock, so a transaction of one coroutine never
takes in another coroutine's statements on the same connection; transactions
start with ``BEGIN IMMEDIATE`` so writers of other processes queue on the busy
timeout instead of failing midway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from aar.clock import SYSTEM_CLOCK, Clock
from aar.errors import StoreError
from aar.events import EventPayload


def dumps(value: Any) -> str:
    """Compact JSON for the store's JSON columns."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


INSERT_EVENTS = "INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)"


class Connection:
    """One aiosqlite connection, its write lock and the query helpers the tables use."""

    def __init__(self, db: aiosqlite.Connection, path: Path, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self.path = path
        self.clock = clock
        """What the job queue's times (claims, device-seconds) are read from."""
        self._lock = asyncio.Lock()
        """Held by every write so one coroutine's transaction never takes in another's statements."""

    # ------------------------------------------------------------ meta

    async def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else default

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One call on the connection's thread runs the query to its end: a reader cancelled in the
        # middle (an exclusive TUI worker replaced by a newer one) cannot leave a cursor open, and an
        # open cursor would hold its read snapshot, so that connection saw no later commit.
        return list(await self._db.execute_fetchall(sql, args))

    async def _fetchone(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._fetch(sql, args)
        return rows[0] if rows else None

    async def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first column of the one row an aggregate (``COUNT``, ``MAX``) returns."""
        row = await self._fetchone(sql, args)
        if row is None:
            raise StoreError(f"{self.path}: {sql!r} returned no row")
        return row[0]

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the write lock; rolls back on any error."""
        async with self._lock:
            await self._begin()
            try:
                yield
                await self._db.execute("COMMIT")  # can fail too (a full disk): then nothing of it is kept
            except BaseException:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                raise

    def _tell(self, agent: str | None, payload: EventPayload) -> None:
        """Tell the event log's listeners of an event written outside its buffer (a step's, after its commit).
        A store without an event log has none."""

    async def _insert_buffered_events(self) -> Callable[[], None]:
        """Inside a transaction the caller holds: insert the events emitted so far (the event log's buffer),
        so they commit with it; returns how to put them back in the buffer if the transaction rolls back.
        A store without an event log has none."""
        return lambda: None

    async def _begin(self, attempts: int = 50) -> None:
        """``BEGIN IMMEDIATE``, retried: SQLite can answer SQLITE_BUSY at once (without its busy
        handler) when another process's connection is between transactions in WAL mode."""
        for attempt in range(attempts):
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                await asyncio.sleep(min(0.005 * 2**attempt, 0.2))

    async def _write(self, sql: str, args: Sequence[Any] = ()) -> None:
        async with self._lock:
            await self._db.execute(sql, args)

    async def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._transaction():
            await self._db.executemany(sql, rows)

    async def _insert(self, sql: str, args: Sequence[Any]) -> int:
        async with self._lock, self._db.execute(sql, args) as cur:
            if cur.lastrowid is None:
                raise StoreError(f"{self.path}: {sql!r} inserted no row")
            return cur.lastrowid
