"""Forum posts, with full-text search over titles and bodies (FTS5), moderation and checked claims.

A quarantined post stays in the table (the record keeps everything); readers
that serve the agents withhold it (``agents.tools.forum``). Claims are data on
a post, written by the daemon's claim checker beside its ``forum.claim`` events.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aar.store.connection import Connection, dumps
from aar.store.rows import PostClaim, PostRow, decode


def _post(row: Any) -> PostRow:
    return PostRow(**decode(row))


class ForumTable(Connection):
    async def add_post(self, author: str, title: str, body: str, *, parent_id: int | None = None) -> int:
        return await self._insert(
            "INSERT INTO forum_posts (ts, author, parent_id, title, body) VALUES (?, ?, ?, ?, ?)",
            (time.time(), author, parent_id, title, body),
        )

    async def posts(self, *, after_id: int = 0, limit: int = 200, parent_id: int | None = None) -> list[PostRow]:
        args: tuple[int, ...]
        if parent_id is None:
            sql, args = "SELECT * FROM forum_posts WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        else:
            sql, args = (
                "SELECT * FROM forum_posts WHERE parent_id = ? AND id > ? ORDER BY id LIMIT ?",
                (parent_id, after_id, limit),
            )
        return [_post(r) for r in await self._fetch(sql, args)]

    async def claiming_posts(self) -> list[PostRow]:
        """Every post with checked claims, in id order."""
        rows = await self._fetch("SELECT * FROM forum_posts WHERE claims != '[]' ORDER BY id")
        return [_post(r) for r in rows]

    async def post(self, post_id: int) -> PostRow | None:
        row = await self._fetchone("SELECT * FROM forum_posts WHERE id = ?", (post_id,))
        return _post(row) if row else None

    async def posts_by_id(self, ids: Sequence[int]) -> list[PostRow]:
        """The posts with these ids, in id order (a view refreshing the moderation of posts it shows)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return [
            _post(r) for r in await self._fetch(f"SELECT * FROM forum_posts WHERE id IN ({marks}) ORDER BY id", ids)
        ]

    async def pinned_posts(self) -> list[PostRow]:
        """Pinned posts that are not quarantined, oldest first: what every agent reads first."""
        rows = await self._fetch("SELECT * FROM forum_posts WHERE pinned = 1 AND status = 'visible' ORDER BY id")
        return [_post(r) for r in rows]

    async def search_posts(self, query: str, *, limit: int = 50) -> list[PostRow]:
        """Full-text search; the query is matched as plain words, never as FTS syntax."""
        terms = [t for t in "".join(c if c.isalnum() else " " for c in query).split() if t]
        if not terms:
            return []
        match = " ".join(f'"{t}"*' for t in terms)
        rows = await self._fetch(
            "SELECT p.* FROM forum_fts f JOIN forum_posts p ON p.id = f.rowid WHERE forum_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        )
        return [_post(r) for r in rows]

    async def post_count(self) -> int:
        return int(await self._scalar("SELECT COUNT(*) FROM forum_posts"))

    # ------------------------------------------------------------ moderation (applied by the daemon)

    async def moderate_post(self, post_id: int, *, quarantined: bool, reason: str = "") -> bool:
        """Quarantine (with a reason) or restore a post; False when there is no such post."""
        status = "quarantined" if quarantined else "visible"
        async with (
            self._lock,
            self._db.execute(
                "UPDATE forum_posts SET status = ?, moderation = ? WHERE id = ?",
                (status, reason if quarantined else "", post_id),
            ) as cur,
        ):
            return cur.rowcount > 0

    async def pin_post(self, post_id: int, pinned: bool) -> bool:
        """Pin or unpin a post; False when there is no such post."""
        async with (
            self._lock,
            self._db.execute("UPDATE forum_posts SET pinned = ? WHERE id = ?", (int(pinned), post_id)) as cur,
        ):
            return cur.rowcount > 0

    async def set_claims(self, post_id: int, claims: Sequence[PostClaim]) -> None:
        """Record the checked claims of a post (the checker's verdicts, shown beside it)."""
        await self._write(
            "UPDATE forum_posts SET claims = ? WHERE id = ?",
            (dumps([c.model_dump(mode="json") for c in claims]), post_id),
        )
