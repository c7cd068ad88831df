"""The store's side of full-text search (``aar.store.search_index``): the query, and the index rebuilt when
it is missing."""

from __future__ import annotations

import sqlite3

import aiosqlite

from aar.errors import StoreError
from aar.fold import fold_all
from aar.store.connection import Connection
from aar.store.search_index import CURSOR, FOLD, REBUILD, SearchHit, hit, query_sql, refused


class SearchTable(Connection):
    async def search(
        self, query: str, *, agent: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[SearchHit]:
        """The newest ``limit`` matches of ``query`` (FTS5 syntax) in every transcript and post (a ranking by
        relevance would score every match first: 0.3 s on a million events, newest-first stops at ``limit``); raises
        ``SearchQueryError`` in one line for a query FTS5 cannot parse."""
        args: list[object] = [query, *(v for v in (agent, kind) if v is not None), limit]
        try:
            rows = await self._fetch(query_sql(agent=agent, kind=kind), args)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise StoreError(f"{self.path} has no search index and cannot build one here (read-only)") from None
            if "locked" in str(exc) or "disk" in str(exc):
                raise
            raise refused(query, exc) from None  # the query's own fault: syntax, an unterminated string
        return [hit(r) for r in rows]

    async def fold_search_batch(self, *, limit: int = 2000) -> int:
        """Index the next ``limit`` transcript rows after the cursor, in one transaction; returns how many."""
        async with self._transaction():
            cursor = int(await self._scalar(f"SELECT COALESCE(MAX(value), 0) FROM meta WHERE key = '{CURSOR}'"))
            async with self._db.execute(
                "SELECT COUNT(*), MAX(id) FROM (SELECT id FROM transcripts WHERE id > ? ORDER BY id LIMIT ?)",
                (cursor, limit),
            ) as cur:
                row = await cur.fetchone()
            count, last = (int(row[0]), row[1]) if row else (0, None)
            if count:
                await self._db.execute(FOLD, (cursor, last))
                await self._db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(last), CURSOR))
        return count

    async def catch_up_search(self, *, batch: int = 2000) -> int:
        """Index every transcript row not yet in the index; returns how many were folded."""
        return await fold_all(lambda n: self.fold_search_batch(limit=n), batch)

    async def ensure_search_index(self) -> bool:
        """Build the index from the store if it is missing; True when it was built."""
        async with self._lock:
            return await ensure_index(self._db)


async def ensure_index(db: aiosqlite.Connection) -> bool:
    """Build the index from the store if it is missing (it is derived: deleting it loses nothing, and its
    triggers are made again with it); True when it was built. Every open of a writable store calls this."""
    async with db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_fts'") as cur:
        if await cur.fetchone() is not None:
            return False
    try:
        await db.executescript(f"BEGIN IMMEDIATE; {REBUILD}; COMMIT;")
    except sqlite3.Error:
        if db.in_transaction:
            await db.execute("ROLLBACK")
        raise
    return True
