"""The supervisor's budget changes: raise, lower, or move budget between agents while the run goes on.

A ``budget`` command names a target agent, a resource (dollars, tokens,
wall-clock seconds), an amount (negative lowers) and where a raise comes
from: another agent (moved from its budget), the pool (dollars that
``run.dollar_cap`` leaves unallocated) or nowhere (the budget just grows).
The desk checks it against the budgets as they stand, then writes the change
and the command's mark in one transaction (``RunStore.apply_budget_change``),
so the change applies exactly once whatever happens to the daemon. Each
agent touched gets a ``budget.changed`` event, shown in its pane; the agent's
``BudgetGuard`` reads the new budget at its next checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping

from aar.commands import BUDGET_POOL, Budget, BudgetResource
from aar.config import BudgetConfig
from aar.events import BudgetChanged
from aar.store import RunStore
from aar.store.budget_table import BudgetDelta
from agents.budget import effective_budget

UNITS = {"dollars": "$", "tokens": " tokens", "wall_clock_s": "s"}


class BudgetRefused(Exception):
    """A budget change that cannot apply; the message says why and what would."""


def _amount(resource: str, value: float) -> str:
    if resource == "dollars":
        return f"${value:,.2f}"
    return f"{value:,.0f}{UNITS[resource]}"


class BudgetDesk:
    def __init__(self, store: RunStore, budgets: Mapping[str, BudgetConfig], *, dollar_cap: float) -> None:
        self.store = store
        self.configured = dict(budgets)
        """Each agent's budget as configured."""
        self.dollar_cap = dollar_cap

    async def budget_of(self, agent: str) -> BudgetConfig:
        return effective_budget(self.configured[agent], await self.store.budget_deltas(agent))

    async def pool_left(self) -> float:
        """Dollars under ``run.dollar_cap`` no agent holds: an agent holds its dollar budget, or what it spent without one."""
        spent = {a.name: a.cost_usd for a in await self.store.agents()}
        held = 0.0
        for agent in self.configured:
            budget = (await self.budget_of(agent)).dollars
            held += budget if budget else spent.get(agent, 0.0)
        return self.dollar_cap - held

    async def apply(self, command_id: int, command: Budget, target: str) -> str:
        """Check and apply one change to ``target``'s budget; its effect in words. Raises ``BudgetRefused``."""
        resource, amount, source = command.resource, command.amount, command.source.strip()
        if amount == 0:
            raise BudgetRefused("an amount of 0 changes nothing; give a positive amount to raise, negative to lower")
        current = getattr(await self.budget_of(target), resource)
        if not current:
            raise BudgetRefused(
                f"{target} has no {resource} budget (0 means unlimited), so there is nothing to raise or lower"
            )
        after = current + amount
        if after <= 0:
            raise BudgetRefused(
                f"{target}'s {resource} budget is {_amount(resource, current)}; "
                f"lowering it by {_amount(resource, -amount)} would leave none (stop the agent instead)"
            )
        changes: list[BudgetDelta] = [(target, resource, amount, source)]
        where = ""
        if source == BUDGET_POOL:
            await self._check_pool(resource, amount)
            where = " from the pool"
        elif source:
            changes.append(await self._moved_from(source, target, resource, amount))
            where = f" from {source}" if amount > 0 else f" to {source}"
        verb = "raised" if amount > 0 else "lowered"
        effect = f"{resource} budget {verb} {_amount(resource, current)} → {_amount(resource, after)}{where}"
        if not await self.store.apply_budget_change(command_id, changes, effect):
            return "already applied"
        for agent, res, delta, src in changes:
            budget = getattr(await self.budget_of(agent), res)
            self.store.emit(
                agent,
                BudgetChanged(command_id=command_id, resource=res, delta=delta, budget=budget, source=src),
            )
        return effect

    async def _check_pool(self, resource: str, amount: float) -> None:
        if resource != "dollars":
            raise BudgetRefused("the pool holds dollars only; move tokens or wall clock from another agent instead")
        if not self.dollar_cap:
            raise BudgetRefused("the run has no run.dollar_cap, so there is no pool; raise without a source instead")
        left = await self.pool_left()
        if amount > 0 and amount > left + 1e-9:
            raise BudgetRefused(f"the pool has {_amount('dollars', max(left, 0))} left under the run's dollar cap")

    async def _moved_from(self, source: str, target: str, resource: BudgetResource, amount: float) -> BudgetDelta:
        if source not in self.configured:
            known = ", ".join(self.configured)
            raise BudgetRefused(f"no agent named {source!r} to move budget from (agents: {known}, or {BUDGET_POOL})")
        if source == target:
            raise BudgetRefused("moving budget from an agent to itself changes nothing")
        held = getattr(await self.budget_of(source), resource)
        if not held:
            raise BudgetRefused(f"{source} has no {resource} budget (unlimited), so none can be moved from it")
        if held - amount <= 0:
            raise BudgetRefused(
                f"{source} holds {_amount(resource, held)} of {resource}; moving {_amount(resource, amount)} would leave it none"
            )
        return (source, resource, -amount, target)
