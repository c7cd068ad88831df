"""Branching an agent from a past step: the ``branch`` command, checked and made.

A branch of ``agent-2`` at step 35 is a new agent, ``agent-2-b1`` (``-b2`` for the next), that starts with
``agent-2``'s transcript as it stood after step 35, in the workspace of ``agent-2``'s nearest snapshot at or
before that step, with the supervisor's guidance as the first thing it reads, and a budget of its own. The
parent is not touched. The workspace is restored first (into a folder renamed into place, so never half
made), then the store makes the branch whole in one transaction (``RunStore.create_branch``); the command's
id makes a second application of the same command (a daemon that died before marking it) a no-op.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from aar import snapshots
from aar.commands import Branch
from aar.config import NAME_PATTERN, BudgetConfig, ResolvedAgent
from aar.errors import AarError
from aar.runtime import RunContext
from aar.store.branch_table import BranchRow
from agents.budget_desk import BudgetDesk

GUIDANCE_MARK = "[Supervisor message, branch guidance]"
"""Opens the guidance message (the scripted researcher, like a model, reads it as the supervisor's)."""


class BranchRefused(AarError):
    """A branch that cannot be made; the message says why and what can."""


def branch_agent(parent: ResolvedAgent, row: BranchRow) -> ResolvedAgent:
    """The branch as the team runs it: the parent's direction, backend and model, its own name and budget."""
    budget = BudgetConfig(dollars=row.dollars, tokens=row.tokens, wall_clock_s=row.wall_clock_s)
    return parent.model_copy(update={"name": row.agent, "budget": budget})


def guidance_message(row: BranchRow) -> list[dict[str, str]]:
    """The first message the branch reads: where it comes from, then the supervisor's guidance."""
    text = (
        f"{GUIDANCE_MARK} You are {row.agent}, a branch of {row.parent} after its step {row.step}. The "
        f"conversation above is {row.parent}'s up to that step; your workspace is as it was after step "
        f"{row.snapshot_step}. {row.parent} goes on by itself: the forum and leaderboard are shared, and what "
        f"it did after step {row.step} is not yours. Follow this guidance from the supervisor:\n\n{row.guidance}"
    )
    return [{"type": "text", "text": text}]


def next_name(parent: str, taken: set[str]) -> str:
    k = 1
    while f"{parent}-b{k}" in taken:
        k += 1
    name = f"{parent}-b{k}"
    if re.fullmatch(NAME_PATTERN, name) is None:
        raise BranchRefused(f"a branch of {parent} would be named {name}, over 32 characters; branch its parent")
    return name


class Brancher:
    """Checks and makes the branches of one run."""

    def __init__(self, ctx: RunContext, desk: BudgetDesk) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.desk = desk

    async def make(self, command_id: int, parent: str, command: Branch) -> BranchRow:
        """The branch ``command`` asks for (made now, or by an earlier application of the same command).
        Raises ``BranchRefused`` in one line."""
        done = await self.store.branch_of_command(command_id)
        if done is not None:
            return done
        row = await self.store.agent(parent)
        if row is None:
            known = ", ".join(a.name for a in await self.store.agents()) or "none"
            raise BranchRefused(f"no agent named {parent!r} (agents: {known})")
        last = await self._last_step(parent)
        if command.step > last:
            raise BranchRefused(f"{parent} has taken steps up to {last}; branch from a step from 0 to {last}")
        snapshot = await self.store.nearest_snapshot(parent, command.step)
        if snapshot is None:
            raise BranchRefused(await self._no_snapshot(parent, command.step, last))
        await self._check_budget(command)
        name = next_name(parent, {a.name for a in await self.store.agents()})
        branch = BranchRow(
            agent=name,
            parent=parent,
            step=command.step,
            snapshot_id=snapshot.id,
            snapshot_step=snapshot.step,
            guidance=command.guidance,
            dollars=command.dollars,
            tokens=command.tokens,
            wall_clock_s=command.wall_clock_s,
            command_id=command_id,
        )
        messages = await self.store.transcript_as_of(parent, command.step)
        dest = self.ctx.paths.workspace(name)
        if dest.exists() or dest.is_symlink():  # a branch whose transaction never committed left it
            await asyncio.to_thread(_remove, dest)
        await self.store.pin_snapshot(snapshot.id)  # first: a prune meanwhile must not take it
        await snapshots.restore(self.store, self.ctx.paths.root, snapshot.id, dest)
        await self.store.create_branch(
            branch,
            backend=row.backend,
            model=row.model,
            direction=row.direction,
            messages=messages,
            guidance=guidance_message(branch),
        )
        return branch

    async def _last_step(self, agent: str) -> int:
        return max((m.step for m in await self.store.transcript(agent)), default=0)

    async def _no_snapshot(self, parent: str, step: int, last: int) -> str:
        taken = sorted({s.step for s in await self.store.snapshots(agent=parent)})
        if not taken:
            return f"{parent} has no workspace snapshot yet, so no step can be branched from; try again after its next step"
        return (
            f"{parent}'s workspace snapshots at or before step {step} were pruned (run.snapshot_budget_mb); "
            f"steps {taken[0]} to {last} can be branched from"
        )

    async def _check_budget(self, command: Branch) -> None:
        cap = self.ctx.config.run.dollar_cap
        if cap <= 0:
            return
        left = await self.desk.pool_left()
        if command.dollars <= 0:
            raise BranchRefused(
                f"the run's dollar cap (${cap:,.2f}) leaves ${max(left, 0):,.2f} to no agent: give the branch a "
                f"dollar budget of at most that"
            )
        if command.dollars > left + 1e-9:
            raise BranchRefused(
                f"the branch's ${command.dollars:,.2f} is more than the run's dollar cap (${cap:,.2f}) leaves to no "
                f"agent (${max(left, 0):,.2f}); give at most that, or lower another agent's budget first"
            )


def _remove(target: Path) -> None:
    """Remove what is at ``target`` without following a link."""
    if target.is_symlink() or not target.is_dir():
        target.unlink()
    else:
        shutil.rmtree(target)
