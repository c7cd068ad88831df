"""The run store: one SQLite file (WAL) that is both the bus and the record.

``RunStore`` puts the tables together (``event_log``, ``agents_table``,
``forum_table``, ``evaluation_table``, ``commands_table``, ``inbox_table``,
``budget_table``, ``review_table``, ``checkpoint_table``, ``branch_table``, ``snapshot_table``) over one
connection (``connection``). One process writes events (the daemon). The
evaluator worker and the TUI write only their own small tables (jobs and
results; commands), relying on the busy timeout.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import aiosqlite

from aar.clock import SYSTEM_CLOCK, Clock
from aar.errors import StoreError
from aar.store.agents_table import AgentTables
from aar.store.branch_table import BranchTable
from aar.store.budget_table import BudgetTable
from aar.store.checkpoint_table import CheckpointTable
from aar.store.commands_table import CommandsTable
from aar.store.evaluation_table import EvaluationTables
from aar.store.event_log import EventLog
from aar.store.forum_table import ForumTable
from aar.store.inbox_table import InboxTable
from aar.store.review_table import ReviewTable
from aar.store.schema import MIGRATIONS, PRAGMAS, SCHEMA_VERSION
from aar.store.search_table import SearchTable, ensure_index
from aar.store.snapshot_table import SnapshotTable


class RunStore(
    EventLog,
    BranchTable,
    AgentTables,
    ForumTable,
    EvaluationTables,
    CommandsTable,
    InboxTable,
    BudgetTable,
    SearchTable,
    ReviewTable,
    CheckpointTable,
    SnapshotTable,
):
    """Async access to one run's ``run.db``. Open with ``await RunStore.open(path)``."""

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        create: bool = False,
        batch_size: int = 2000,
        flush_interval: float = 0.05,
        clock: Clock = SYSTEM_CLOCK,
    ) -> RunStore:
        """Open (and with ``create`` make or migrate) the store at ``path``."""
        path = Path(path)
        if not create and not path.exists():
            raise StoreError(f"no run store at {path}; is this a run folder?")
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            for pragma in PRAGMAS:
                await db.execute(pragma)
            await cls._migrate(db, path, create=create)
            with contextlib.suppress(sqlite3.OperationalError):  # a read-only store searches as it is
                await ensure_index(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, path, batch_size=batch_size, flush_interval=flush_interval, clock=clock)

    @staticmethod
    async def _migrate(db: aiosqlite.Connection, path: Path, *, create: bool) -> None:
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path} has store schema {version}, newer than this aar ({SCHEMA_VERSION}); upgrade aar")
        if version == SCHEMA_VERSION:
            return
        if version == 0 and not create:
            raise StoreError(f"{path} is not an aar run store")
        for step in range(version, SCHEMA_VERSION):
            # One script per step: the step's DDL and its version bump commit together.
            try:
                await db.executescript(
                    f"BEGIN IMMEDIATE; {MIGRATIONS[step]}; PRAGMA user_version = {step + 1}; COMMIT;"
                )
            except sqlite3.Error as exc:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise StoreError(f"{path}: migrating the store to schema {step + 1} failed: {exc}") from exc

    async def __aenter__(self) -> RunStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
