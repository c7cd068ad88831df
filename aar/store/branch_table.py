"""Branches: agents started from another agent's past step, with their lineage.

A branch is made in one transaction (``create_branch``): its agents row, its ``branches`` row (parent, step,
the snapshot its workspace came from, the guidance, its own budget, the command that asked), the parent's
transcript as it stood after that step, the guidance as a delivered supervisor message, and the
``agent.branched`` event. After a crash the store holds all of it or none; the command's id is unique in
``branches``, so a command applied twice (the daemon died before marking it) makes one branch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aar.events import AgentBranched
from aar.store.agents_table import AgentTables
from aar.store.connection import dumps
from aar.store.rows import MessageRow, _Row, decode

ARCHIVED = "archived:"


class BranchRow(_Row):
    """An agent branched from another's past step: its lineage and its own budget."""

    agent: str
    parent: str
    step: int
    """The parent's step it starts after."""
    snapshot_id: int
    snapshot_step: int
    """The step of the parent's workspace snapshot it started from (at or before ``step``)."""
    guidance: str
    dollars: float = 0.0
    tokens: int = 0
    wall_clock_s: float = 0.0
    command_id: int
    ts: float = 0.0


class BranchTable(AgentTables):
    async def transcript_as_of(self, agent: str, step: int) -> list[MessageRow]:
        """``agent``'s live transcript as it stood after ``step``: every message of a step at or before it that
        no compaction at or before it had archived (a row archived by a later compaction was live then), in
        order, with its role as it was. A row archived by an aar that did not record when (``compacted_at``
        NULL) counts as archived at its own step."""
        rows = await self._fetch(
            "SELECT * FROM transcripts WHERE agent = ? AND step <= ?"
            " AND (role NOT LIKE 'archived:%' OR COALESCE(compacted_at, step) > ?) ORDER BY id",
            (agent, step, step),
        )
        out = []
        for r in rows:
            row = MessageRow(**decode(r))
            out.append(row.model_copy(update={"role": row.role.removeprefix(ARCHIVED)}))
        return out

    async def create_branch(
        self,
        branch: BranchRow,
        *,
        backend: str,
        model: str,
        direction: str,
        messages: Sequence[MessageRow],
        guidance: Any,
    ) -> None:
        """Make ``branch`` whole in one transaction (see the module's docstring): ``messages`` keep their steps,
        ``guidance`` (a user message's content) follows them as the delivery of ``branch.command_id``."""
        now = time.time()
        event = AgentBranched(
            command_id=branch.command_id,
            parent=branch.parent,
            step=branch.step,
            snapshot_id=branch.snapshot_id,
            snapshot_step=branch.snapshot_step,
            guidance=branch.guidance,
            dollars=branch.dollars,
            tokens=branch.tokens,
            wall_clock_s=branch.wall_clock_s,
        )
        async with self._with_events(then=[(now, branch.agent, event.kind, event.model_dump_json())]):
            await self._db.execute(
                "INSERT INTO agents (name, backend, model, direction, lineage, started_ts, updated_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (branch.agent, backend, model, direction, f"{branch.parent}@{branch.step}", now, now),
            )
            await self._db.execute(
                "INSERT INTO branches (agent, parent, step, snapshot_id, snapshot_step, guidance, dollars, tokens,"
                " wall_clock_s, command_id, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    branch.agent,
                    branch.parent,
                    branch.step,
                    branch.snapshot_id,
                    branch.snapshot_step,
                    branch.guidance,
                    branch.dollars,
                    branch.tokens,
                    branch.wall_clock_s,
                    branch.command_id,
                    now,
                ),
            )
            await self._db.executemany(
                "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, ?, ?, ?)",
                [(branch.agent, m.step, m.role, dumps(m.content), now) for m in messages],
            )
            cur = await self._db.execute(
                "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, 'user', ?, ?)",
                (branch.agent, branch.step, dumps(guidance), now),
            )
            await self._db.execute(
                "INSERT INTO deliveries (command_id, agent, message_id, ts) VALUES (?, ?, ?, ?)",
                (branch.command_id, branch.agent, cur.lastrowid, now),
            )

    async def branches(self) -> list[BranchRow]:
        """Every branch, oldest first (a branch of a branch comes after its parent)."""
        return [BranchRow(**dict(r)) for r in await self._fetch("SELECT * FROM branches ORDER BY rowid")]

    async def branch(self, agent: str) -> BranchRow | None:
        row = await self._fetchone("SELECT * FROM branches WHERE agent = ?", (agent,))
        return BranchRow(**dict(row)) if row else None

    async def branch_of_command(self, command_id: int) -> BranchRow | None:
        """The branch a ``branch`` command made, if it made one."""
        row = await self._fetchone("SELECT * FROM branches WHERE command_id = ?", (command_id,))
        return BranchRow(**dict(row)) if row else None
