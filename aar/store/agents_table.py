"""Agents (status and counters) and their transcripts (every message, so a run resumes exactly)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aar.events import AgentStepCompleted, AgentUsage
from aar.store.connection import INSERT_EVENTS, Connection, dumps
from aar.store.rows import AgentRow, MessageRow, decode

_AGENT_COUNTERS = ("steps", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")


def _nothing() -> None:
    return None


def _counted(name: str, deltas: dict[str, float], now: float) -> tuple[str, tuple[object, ...]]:
    """The statement that adds ``deltas`` to agent ``name``'s counters; refuses a name that is no counter."""
    unknown = set(deltas) - set(_AGENT_COUNTERS)
    if unknown:
        raise ValueError(f"unknown agent counters: {sorted(unknown)}")
    sets = ", ".join(f"{k} = {k} + ?" for k in deltas)
    return f"UPDATE agents SET {sets}, updated_ts = ? WHERE name = ?", (*deltas.values(), now, name)


class AgentTables(Connection):
    async def register_agent(self, name: str, *, backend: str, model: str, direction: str = "") -> None:
        """Add an agent, or keep its counters if it is already there (resume)."""
        await self._write(
            "INSERT INTO agents (name, backend, model, direction, started_ts, updated_ts) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET backend = excluded.backend, model = excluded.model",
            (name, backend, model, direction, time.time(), time.time()),
        )

    async def update_agent(self, name: str, **fields: Any) -> None:
        """Set columns of an agent row (status, isolation, approval, ...)."""
        allowed = set(AgentRow.model_fields) - {"name"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown agent fields: {sorted(unknown)}")
        fields["updated_ts"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in fields)
        await self._write(f"UPDATE agents SET {sets} WHERE name = ?", (*fields.values(), name))

    async def add_usage(self, name: str, **deltas: float) -> None:
        """Add to an agent's counters (steps, tokens, cost) atomically."""
        await self._write(*_counted(name, deltas, time.time()))

    async def record_usage(self, name: str, usage: AgentUsage) -> None:
        """Spend outside a step (``usage.purpose``): the agent's counters and an ``agent.usage`` event, in one
        transaction with the events emitted before it, so the counters always equal the sum of the events."""
        now = time.time()
        async with self._with_events(then=[(now, name, usage.kind, usage.model_dump_json())]):
            await self._db.execute(*_counted(name, usage.model_dump(exclude={"kind", "purpose"}), now))
        self._tell(name, usage)

    @contextlib.asynccontextmanager
    async def _with_events(self, then: Sequence[tuple[float, str, str, str]] = ()) -> AsyncIterator[None]:
        """A transaction that also commits the events emitted before it (the event log's buffer), then
        ``then``; rolled back, the buffered events go back to the buffer, to be committed with the next batch."""
        put_back: Callable[[], None] = _nothing
        try:
            async with self._transaction():
                yield
                put_back = await self._insert_buffered_events()
                await self._db.executemany(INSERT_EVENTS, then)
        except BaseException:
            put_back()
            raise

    async def agents(self) -> list[AgentRow]:
        return [AgentRow(**dict(r)) for r in await self._fetch("SELECT * FROM agents ORDER BY rowid")]

    async def agent(self, name: str) -> AgentRow | None:
        row = await self._fetchone("SELECT * FROM agents WHERE name = ?", (name,))
        return AgentRow(**dict(row)) if row else None

    # ------------------------------------------------------------ transcripts

    async def append_messages(self, agent: str, step: int, messages: Sequence[tuple[str, Any]]) -> None:
        """Persist ``(role, content)`` messages of one step in one transaction."""
        now = time.time()
        await self._write_many(
            "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, ?, ?, ?)",
            [(agent, step, role, dumps(content), now) for role, content in messages],
        )

    async def append_step(
        self,
        agent: str,
        step: int,
        messages: Sequence[tuple[str, Any]],
        completed: AgentStepCompleted | None = None,
        **deltas: float,
    ) -> None:
        """Persist one agent step: its messages, its counters and the events emitted before it, then its
        ``agent.step`` event ``completed`` (whose tokens and cost, with the step itself, are added to the
        counters besides ``deltas``), in one transaction, so a crash never leaves a transcript, its counters
        and its events disagreeing. ``completed`` is given here, not emitted before: in the buffer, the
        store's flusher could commit it in a batch of its own, and a kill -9 between the two commits would
        leave a step's spend in the events and not in the counters."""
        now = time.time()
        then: list[tuple[float, str, str, str]] = []
        if completed is not None:
            then.append((now, agent, completed.kind, completed.model_dump_json()))
            deltas = {**deltas, "steps": deltas.get("steps", 0) + 1}
            for counter, spent in completed.model_dump(include=set(_AGENT_COUNTERS)).items():
                deltas[counter] = deltas.get(counter, 0) + spent
        async with self._with_events(then=then):
            await self._db.executemany(
                "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, ?, ?, ?)",
                [(agent, step, role, dumps(content), now) for role, content in messages],
            )
            if deltas:
                await self._db.execute(*_counted(agent, deltas, now))
        if completed is not None:
            self._tell(agent, completed)  # heard as if emitted, once it is on disk

    async def deliver(self, agent: str, step: int, content: Any, command_ids: Sequence[int]) -> None:
        """Append the user message ``content`` that carries supervisor messages (redirects, broadcasts, answers)
        and record each command as delivered to ``agent``, in one transaction: after a crash the store holds
        both or neither, so a resume delivers exactly the messages missing (``delivered``)."""
        now = time.time()
        async with self._transaction():
            cur = await self._db.execute(
                "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, 'user', ?, ?)",
                (agent, step, dumps(content), now),
            )
            await self._db.executemany(
                "INSERT INTO deliveries (command_id, agent, message_id, ts) VALUES (?, ?, ?, ?)",
                [(command_id, agent, cur.lastrowid, now) for command_id in command_ids],
            )

    async def delivered(self, agent: str) -> set[int]:
        """The commands whose supervisor message ``agent`` has read (is in its transcript)."""
        rows = await self._fetch("SELECT command_id FROM deliveries WHERE agent = ?", (agent,))
        return {int(r["command_id"]) for r in rows}

    async def transcript(self, agent: str, *, after_id: int = 0) -> list[MessageRow]:
        rows = await self._fetch("SELECT * FROM transcripts WHERE agent = ? AND id > ? ORDER BY id", (agent, after_id))
        return [MessageRow(**decode(r)) for r in rows]

    async def replace_transcript(self, agent: str, step: int, messages: Sequence[tuple[str, Any]]) -> None:
        """Compaction: keep the old messages as history under role ``archived:<role>`` (and the step that archived
        them, so a branch knows what was live at an earlier step), start anew."""
        now = time.time()
        async with self._transaction():
            await self._db.execute(
                "UPDATE transcripts SET role = 'archived:' || role, compacted_at = ?"
                " WHERE agent = ? AND role NOT LIKE 'archived:%'",
                (step, agent),
            )
            await self._db.executemany(
                "INSERT INTO transcripts (agent, step, role, content, ts) VALUES (?, ?, ?, ?, ?)",
                [(agent, step, role, dumps(content), now) for role, content in messages],
            )
