"""What each tool cost: every model call is charged to the tools whose output it read.

A step's model call reads the results of the tools the previous step called, and its cost is what that
output made the agent spend: so a step's cost goes to the previous step's tools, in equal shares, and
the first call of a run (or one after a step that called no tool) to ``NO_TOOL``. Spend outside a step
(``agent.usage``: a compaction, a monitor's review) goes to its purpose in brackets, ``(compaction)``.
Summed over tools, an agent's costs are its spend. The evaluator's device time per job is the report's own table
(``device_time``).
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

from aar.escape import one_line
from aar.store.protocols import StoreReader

NO_TOOL = "(no tool output)"


class ToolCost(BaseModel):
    agent: str
    tool: str
    calls: int
    """Calls of the tool (in the period)."""
    cost_usd: float
    """The model calls that read its output."""


async def dearest_tools(store: StoreReader, agent: str, *, most: int = 3) -> str:
    """``agent``'s dearest tools so far on one line (``bash $1.20 (14 calls), ...``); empty before any spend."""
    mine = [c for c in await cost_by_tool(store) if c.agent == agent and c.cost_usd > 0][:most]
    return ", ".join(f"{one_line(c.tool, 40)} ${c.cost_usd:.2f} ({c.calls} calls)" for c in mine)


async def cost_by_tool(store: StoreReader, *, after_id: int = 0) -> list[ToolCost]:
    """Each agent's spend after ``after_id`` split by tool, dearest first within each agent."""
    tools: dict[tuple[str, int], list[str]] = defaultdict(list)
    for agent, step, tool in await store.event_fields("tool.call", ["step", "tool"], after_id=after_id):
        tools[(str(agent), int(step))].append(str(tool))
    cost: dict[tuple[str, str], float] = defaultdict(float)
    calls: dict[tuple[str, str], int] = defaultdict(int)
    for (agent, _), called in tools.items():
        for tool in called:
            calls[(agent, tool)] += 1
    for agent, step, usd in await store.event_fields("agent.step", ["step", "cost_usd"], after_id=after_id):
        read = tools.get((str(agent), int(step) - 1)) or [NO_TOOL]
        for tool in read:
            cost[(str(agent), tool)] += float(usd or 0) / len(read)
    for agent, purpose, usd in await store.event_fields("agent.usage", ["purpose", "cost_usd"], after_id=after_id):
        cost[(str(agent), f"({purpose})")] += float(usd or 0)
    keys = sorted(set(cost) | set(calls), key=lambda k: (k[0], -cost.get(k, 0.0), k[1]))
    return [ToolCost(agent=a, tool=t, calls=calls.get((a, t), 0), cost_usd=cost.get((a, t), 0.0)) for a, t in keys]
