"""``aar branch RUN AGENT --step N --guidance TEXT [--budget '$2, 50k, 30m']``: start a new agent from AGENT's
transcript up to step N and its workspace as the nearest snapshot had it, with the guidance as the first thing
it reads. The daemon makes it (a ``branch`` command), so the run must be live; this waits for the daemon's
answer and prints it, or its refusal as one line."""

from __future__ import annotations

import asyncio
import time

from aar.budget_text import BadBudgetEntry, parse_budget_config
from aar.commands import Branch, InvalidCommand, parse_command
from aar.errors import AarError
from aar.escape import one_line
from aar.lock import holder_pid
from aar.runs import summarise
from aar.runtime import RunPaths
from aar.store import RunStore

ANSWER_TIMEOUT_S = 60.0
"""How long to wait for the daemon to apply the command (restoring a large workspace takes a while)."""


def command_for(step: int, guidance: str, budget: str) -> Branch:
    """The ``branch`` command; bad input is one line (``AarError``)."""
    try:
        limits = parse_budget_config(budget)
        made = parse_command("branch", {"step": step, "guidance": guidance, **limits.model_dump()})
    except (BadBudgetEntry, InvalidCommand) as exc:
        raise AarError(str(exc)) from None
    assert isinstance(made, Branch)
    return made


async def _ask(paths: RunPaths, agent: str, command: Branch) -> tuple[str, str]:
    async with await RunStore.open(paths.db) as store:
        if await store.agent(agent) is None:
            known = ", ".join(a.name for a in await store.agents()) or "none"
            raise AarError(f"no agent named {agent!r} in {paths.run_id} (agents: {known})")
        command_id = await store.issue_command(command, agent)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            row = await store.command(command_id)
            if row is not None and row.status != "pending":
                return row.status, row.effect
            await asyncio.sleep(0.2)
    raise AarError(
        f"the daemon did not answer command #{command_id} within {ANSWER_TIMEOUT_S:.0f}s; "
        f"`aar attach {paths.run_id}` shows it when it does"
    )


def main(paths: RunPaths, agent: str, *, step: int, guidance: str, budget: str) -> int:
    command = command_for(step, guidance, budget)
    if holder_pid(paths.lock) is None:
        raise AarError(
            f"{paths.run_id} is not running ({summarise(paths).state}); `aar resume {paths.run_id}` first, then branch"
        )
    status, effect = asyncio.run(_ask(paths, agent, command))
    if status != "applied":
        raise AarError(f"branch refused: {effect}")
    print(one_line(effect))
    return 0
