"""Budget changes the supervisor made while the run goes on (``budget`` commands), applied exactly once.

The rows of one command and the mark that it applied commit together: a
daemon killed before the commit leaves the command pending (the next daemon
applies it), one killed after leaves it applied (no daemon applies it again).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aar.commands import BudgetResource
from aar.store.connection import Connection
from aar.store.rows import BudgetChangeRow

BudgetDelta = tuple[str, BudgetResource, float, str]
"""(agent, resource, delta, source) of one budget change."""


class BudgetTable(Connection):
    async def apply_budget_change(self, command_id: int, changes: Sequence[BudgetDelta], effect: str) -> bool:
        """Record the changes of command ``command_id`` and mark it applied; False if it was applied already."""
        now = time.time()
        async with self._transaction():
            async with self._db.execute("SELECT status FROM commands WHERE id = ?", (command_id,)) as cur:
                row = await cur.fetchone()
            if row is None or row[0] != "pending":
                return False
            await self._db.executemany(
                "INSERT INTO budget_changes (command_id, ts, agent, resource, delta, source) VALUES (?, ?, ?, ?, ?, ?)",
                [(command_id, now, agent, resource, delta, source) for agent, resource, delta, source in changes],
            )
            await self._db.execute(
                "UPDATE commands SET status = 'applied', effect = ?, applied_ts = ? WHERE id = ?",
                (effect, now, command_id),
            )
        return True

    async def budget_changes(self, *, agent: str | None = None) -> list[BudgetChangeRow]:
        if agent is None:
            rows = await self._fetch("SELECT * FROM budget_changes ORDER BY id")
        else:
            rows = await self._fetch("SELECT * FROM budget_changes WHERE agent = ? ORDER BY id", (agent,))
        return [BudgetChangeRow(**dict(r)) for r in rows]

    async def budget_deltas(self, agent: str) -> dict[str, float]:
        """What the supervisor added to each of ``agent``'s budgets, by resource."""
        rows = await self._fetch(
            "SELECT resource, SUM(delta) FROM budget_changes WHERE agent = ? GROUP BY resource", (agent,)
        )
        return {str(r[0]): float(r[1]) for r in rows}
