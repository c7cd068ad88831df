"""Supervisor commands: written by any TUI or CLI, applied and marked by the daemon."""

from __future__ import annotations

import time
from typing import Any

from aar.store.connection import Connection, dumps
from aar.store.rows import CommandRow, decode


class CommandsTable(Connection):
    async def issue_command(self, kind: str, target: str, payload: dict[str, Any] | None = None) -> int:
        return await self._insert(
            "INSERT INTO commands (ts, target, kind, payload) VALUES (?, ?, ?, ?)",
            (time.time(), target, kind, dumps(payload or {})),
        )

    async def pending_commands(self, *, after_id: int = 0) -> list[CommandRow]:
        rows = await self._fetch("SELECT * FROM commands WHERE status = 'pending' AND id > ? ORDER BY id", (after_id,))
        return [CommandRow(**decode(r)) for r in rows]

    async def mark_command(self, command_id: int, *, status: str = "applied", effect: str = "") -> None:
        await self._write(
            "UPDATE commands SET status = ?, effect = ?, applied_ts = ? WHERE id = ?",
            (status, effect, time.time(), command_id),
        )

    async def commands(self, *, limit: int = 200) -> list[CommandRow]:
        rows = await self._fetch("SELECT * FROM commands ORDER BY id DESC LIMIT ?", (limit,))
        return [CommandRow(**decode(r)) for r in reversed(rows)]
