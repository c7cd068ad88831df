"""Per-agent budgets (tokens, dollars, wall clock, steps) and the run-wide dollar cap.

Counters come from the store, not from memory, so what the backend adds on
its own (a compaction call) counts, and a resumed agent continues from what
it had spent. Tokens are everything the model read or wrote: input, output
and both kinds of cache tokens. Wall-clock time is the time the agent's loop
ran, summed over every daemon that drove it (kept in the store's meta).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aar.clock import SYSTEM_CLOCK, Clock
from aar.config import BudgetConfig
from aar.costs import dearest_tools
from aar.events import AgentStatus, BudgetWarned
from aar.store import RunStore
from aar.store.rows import AgentRow

Limit = Literal["tokens", "dollars", "wall_clock", "run_dollars", "steps"]
ACTIVE_META = "active_s:{agent}"
WARNED_META = "budget_warned:{agent}"
"""Meta key: the (limit, cap) pairs an 80% warning was given for, so a resumed agent does not repeat them."""
SPEND_LIMITS: frozenset[str] = frozenset({"tokens", "dollars", "run_dollars"})
"""Limits whose warning names the dearest tools."""
WARN_AT = 0.8
"""Share of a budget at which the supervisor is warned (once per limit and cap)."""


def effective_budget(base: BudgetConfig, deltas: Mapping[str, float]) -> BudgetConfig:
    """The configured budget plus what the supervisor added (``budget`` commands), by resource."""
    if not deltas:
        return base
    return base.model_copy(
        update={
            "dollars": round(base.dollars + deltas.get("dollars", 0.0), 6),
            "tokens": int(base.tokens + deltas.get("tokens", 0.0)),
            "wall_clock_s": base.wall_clock_s + deltas.get("wall_clock_s", 0.0),
        }
    )


@dataclass(frozen=True)
class Overrun:
    limit: Limit
    used: float
    cap: float

    @property
    def status(self) -> AgentStatus:
        """Reaching the step limit is how a run ends normally; anything else is running out."""
        return "finished" if self.limit == "steps" else "out_of_budget"

    def describe(self) -> str:
        names = {
            "tokens": "token budget",
            "dollars": "dollar budget",
            "wall_clock": "wall-clock budget",
            "run_dollars": "run-wide dollar cap",
            "steps": "step limit (run.max_steps)",
        }
        return f"{names[self.limit]} reached: {self.used:g} of {self.cap:g}"


def tokens_used(row: AgentRow) -> int:
    return row.input_tokens + row.output_tokens + row.cache_read_tokens + row.cache_write_tokens


class BudgetGuard:
    def __init__(
        self,
        store: RunStore,
        agent: str,
        budget: BudgetConfig,
        *,
        max_steps: int,
        run_dollar_cap: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.clock = clock
        """What the wall-clock budget is measured on (and its watchdog sleeps on)."""
        self.agent = agent
        self.budget = budget
        self.max_steps = max_steps
        self.run_dollar_cap = run_dollar_cap
        self.configured = budget
        self._earlier_s = 0.0
        self._since = clock.monotonic()
        self._warned: set[tuple[str, float]] = set()

    async def load(self) -> None:
        """Take up the wall-clock time earlier daemons spent on this agent, and the supervisor's budget changes."""
        self._earlier_s = float(await self.store.get_meta(ACTIVE_META.format(agent=self.agent), "0") or 0)
        self._since = self.clock.monotonic()
        warned = json.loads(await self.store.get_meta(WARNED_META.format(agent=self.agent), "[]") or "[]")
        self._warned = {(str(limit), float(cap)) for limit, cap in warned}
        await self.refresh()

    async def refresh(self) -> None:
        """Read the budget again: the configured one plus the supervisor's changes so far."""
        self.budget = effective_budget(self.configured, await self.store.budget_deltas(self.agent))

    def active_s(self) -> float:
        return self._earlier_s + self.clock.monotonic() - self._since

    async def save(self) -> None:
        await self.store.set_meta(ACTIVE_META.format(agent=self.agent), f"{self.active_s():.3f}")

    def wall_remaining(self) -> float | None:
        """Seconds left on the wall clock; None without a wall-clock budget."""
        if not self.budget.wall_clock_s:
            return None
        return self.budget.wall_clock_s - self.active_s()

    async def check(self, steps: int) -> Overrun | None:
        """The first limit this agent (``steps`` committed so far) or the run has reached, if any.

        On the way it warns (a ``budget.warning`` event, once per limit and cap) about any budget at 80%."""
        await self.refresh()
        b = self.budget
        if self.max_steps and steps >= self.max_steps:
            return Overrun("steps", steps, self.max_steps)
        remaining = self.wall_remaining()
        if remaining is not None and remaining <= 0:
            return Overrun("wall_clock", round(self.active_s(), 1), b.wall_clock_s)
        await self._warn(("wall_clock", round(self.active_s(), 1), b.wall_clock_s))
        if not (b.tokens or b.dollars or self.run_dollar_cap):
            return None  # nothing else to read the counters for
        row = await self.store.agent(self.agent)
        if row is None:
            return None
        if b.tokens and tokens_used(row) >= b.tokens:
            return Overrun("tokens", tokens_used(row), b.tokens)
        if b.dollars and row.cost_usd >= b.dollars:
            return Overrun("dollars", round(row.cost_usd, 6), b.dollars)
        spent = 0.0
        if self.run_dollar_cap:
            spent = sum(a.cost_usd for a in await self.store.agents())
            if spent >= self.run_dollar_cap:
                return Overrun("run_dollars", round(spent, 6), self.run_dollar_cap)
        await self._warn(
            ("tokens", tokens_used(row), b.tokens),
            ("dollars", round(row.cost_usd, 6), b.dollars),
            ("run_dollars", round(spent, 6), self.run_dollar_cap),
        )
        return None

    async def dearest(self, limit: Limit) -> str:
        """For a spend limit, the agent's dearest tools so far (``aar.costs``), which the warning and the inbox
        item name; empty for the others."""
        return await dearest_tools(self.store, self.agent) if limit in SPEND_LIMITS else ""

    async def _warn(self, *usage: tuple[Limit, float, float]) -> None:
        fresh = [(limit, used, cap) for limit, used, cap in usage if cap and used >= WARN_AT * cap]
        fresh = [u for u in fresh if (u[0], float(u[2])) not in self._warned]
        if not fresh:
            return
        for limit, used, cap in fresh:
            self._warned.add((limit, float(cap)))
            dearest = await self.dearest(limit)
            self.store.emit(
                self.agent, BudgetWarned(limit=limit, used=used, cap=cap, fraction=WARN_AT, dearest=dearest)
            )
        await self.store.set_meta(WARNED_META.format(agent=self.agent), json.dumps(sorted(self._warned)))
