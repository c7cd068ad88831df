"""Supervisor commands: written by any TUI or CLI, applied and marked by the daemon.

Commands are validated here, on the way in and on the way out (``aar.commands``),
so every writer and the daemon agree on what a command is.
"""

from __future__ import annotations

import time
from typing import Any

from aar.commands import RUN_COMMANDS, RUN_TARGET, Command, InvalidCommand, command_payload, parse_command
from aar.store.connection import Connection, dumps
from aar.store.rows import CommandRow, decode


class CommandsTable(Connection):
    async def issue_command(self, command: Command, target: str) -> int:
        """Record ``command`` (a model, validated when it was built) for ``target``: an agent's name, ``*`` or
        ``@run`` (a run command always goes to ``@run``); returns its id."""
        if isinstance(command, RUN_COMMANDS):
            target = RUN_TARGET
        return await self._insert(
            "INSERT INTO commands (ts, target, kind, payload) VALUES (?, ?, ?, ?)",
            (time.time(), target, command.kind, dumps(command_payload(command))),
        )

    async def pending_commands(self, *, after_id: int = 0) -> list[CommandRow]:
        rows = await self._fetch("SELECT * FROM commands WHERE status = 'pending' AND id > ? ORDER BY id", (after_id,))
        return [_command_row(r) for r in rows]

    async def mark_command(self, command_id: int, *, status: str = "applied", effect: str = "") -> None:
        await self._write(
            "UPDATE commands SET status = ?, effect = ?, applied_ts = ? WHERE id = ?",
            (status, effect, time.time(), command_id),
        )

    async def command(self, command_id: int) -> CommandRow | None:
        """One command, as it stands (a writer waiting for the daemon's answer reads its status and effect)."""
        row = await self._fetchone("SELECT * FROM commands WHERE id = ?", (command_id,))
        return None if row is None else _command_row(row)

    async def commands(self, *, limit: int = 200) -> list[CommandRow]:
        rows = await self._fetch("SELECT * FROM commands ORDER BY id DESC LIMIT ?", (limit,))
        return [_command_row(r) for r in reversed(rows)]


def _command_row(raw: Any) -> CommandRow:
    """A stored row with its command parsed; a row that does not parse carries the reason instead."""
    try:
        fields = decode(raw)
    except ValueError as exc:
        fields = {**dict(raw), "payload": {}}
        return CommandRow(**fields, problem=f"payload is not JSON: {exc}")
    payload = fields["payload"]
    if not isinstance(payload, dict):
        return CommandRow(**{**fields, "payload": {}}, problem="payload is not a JSON object")
    try:
        return CommandRow(**fields, command=parse_command(fields["kind"], payload))
    except InvalidCommand as exc:
        return CommandRow(**fields, problem=str(exc))
