"""The snapshots of agents' workspaces: one row each, its manifest as JSON (``aar.snapshots`` takes them).

A manifest is a few hundred bytes per file, so listings leave it out and only the reads of one snapshot
(``snapshot``, ``nearest_snapshot``) parse it. Which blobs the snapshots refer to is counted in SQL
(``json_each``), so pruning never parses every manifest of a run in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from aar.snapshot_blobs import MANIFEST, SnapshotDamaged, SnapshotEntry, SnapshotNotFound
from aar.store.connection import Connection
from aar.store.rows import SnapshotRow

_LISTED = "id, agent, step, ts, reason, files, bytes, added_bytes, skipped, pinned"


def _row(row: Any) -> SnapshotRow:
    """A stored row as a ``SnapshotRow``, its manifest parsed when the query selected it."""
    fields = dict(row)
    text = fields.pop("manifest", None)
    manifest = None
    if text is not None:
        try:
            manifest = MANIFEST.validate_json(text)
        except ValidationError:
            raise SnapshotDamaged(f"snapshot #{fields['id']}: its manifest is unreadable") from None
    return SnapshotRow(**fields, manifest=manifest)


class SnapshotTable(Connection):
    async def add_snapshot(
        self,
        agent: str,
        step: int,
        *,
        ts: float,
        reason: str,
        manifest: Sequence[SnapshotEntry],
        added_bytes: int,
        skipped: int,
    ) -> int:
        """Record a snapshot whose blobs are written; returns its id (its files and bytes are the manifest's)."""
        return await self._insert(
            "INSERT INTO snapshots (agent, step, ts, reason, files, bytes, added_bytes, skipped, manifest)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                agent,
                step,
                ts,
                reason,
                len(manifest),
                sum(e.size for e in manifest),
                added_bytes,
                skipped,
                MANIFEST.dump_json(list(manifest)).decode(),
            ),
        )

    async def snapshot(self, snapshot_id: int) -> SnapshotRow | None:
        """One snapshot, manifest included; ``SnapshotDamaged`` when its manifest does not parse."""
        row = await self._fetchone("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,))
        return None if row is None else _row(row)

    async def snapshots(self, agent: str | None = None) -> list[SnapshotRow]:
        """Every snapshot (of ``agent``), oldest first, without manifests."""
        if agent is None:
            rows = await self._fetch(f"SELECT {_LISTED} FROM snapshots ORDER BY id")
        else:
            rows = await self._fetch(f"SELECT {_LISTED} FROM snapshots WHERE agent = ? ORDER BY id", (agent,))
        return [_row(r) for r in rows]

    async def nearest_snapshot(self, agent: str, step: int) -> SnapshotRow | None:
        """``agent``'s newest snapshot at or before ``step`` (of two at one step, the later), manifest included."""
        row = await self._fetchone(
            "SELECT * FROM snapshots WHERE agent = ? AND step <= ? ORDER BY step DESC, id DESC LIMIT 1",
            (agent, step),
        )
        return None if row is None else _row(row)

    async def pin_snapshot(self, snapshot_id: int) -> None:
        """Keep a snapshot from pruning (a submission or a branch refers to it)."""
        async with self._lock, self._db.execute("UPDATE snapshots SET pinned = 1 WHERE id = ?", (snapshot_id,)) as cur:
            if cur.rowcount == 0:
                raise SnapshotNotFound(f"no snapshot #{snapshot_id} in this run")

    async def delete_snapshots(self, ids: Sequence[int]) -> int:
        """Remove the rows (their blobs are ``aar.snapshots.prune``'s to remove); returns how many were there."""
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        async with self._lock, self._db.execute(f"DELETE FROM snapshots WHERE id IN ({marks})", tuple(ids)) as cur:
            return int(cur.rowcount)

    async def snapshot_blob_refs(self, ids: Sequence[int] | None = None) -> dict[str, int]:
        """How many manifest entries refer to each blob, over every snapshot (or those of ``ids``). A manifest
        that is not JSON refers to nothing: its snapshot is lost anyway (``snapshot`` says so)."""
        where = "json_valid(s.manifest)"
        args: tuple[int, ...] = ()
        if ids is not None:
            where += f" AND s.id IN ({', '.join('?' for _ in ids)})"
            args = tuple(ids)
        rows = await self._fetch(
            "SELECT json_extract(e.value, '$.sha256') AS sha, COUNT(*) FROM snapshots AS s, json_each(s.manifest) AS e"
            f" WHERE {where} GROUP BY sha",
            args,
        )
        return {str(sha): int(n) for sha, n in rows if isinstance(sha, str)}
