"""Forum posts, with full-text search over titles and bodies (FTS5)."""

from __future__ import annotations

import time

from aar.store.connection import Connection
from aar.store.rows import PostRow


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
        return [PostRow(**dict(r)) for r in await self._fetch(sql, args)]

    async def post(self, post_id: int) -> PostRow | None:
        row = await self._fetchone("SELECT * FROM forum_posts WHERE id = ?", (post_id,))
        return PostRow(**dict(row)) if row else None

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
        return [PostRow(**dict(r)) for r in rows]

    async def post_count(self) -> int:
        return int(await self._scalar("SELECT COUNT(*) FROM forum_posts"))
