"""What each tool cost: every model call is charged to the tools whose output it read.

A step's model call reads the results of the tools the previous step called, and its cost is what that
output made the agent spend: so a step's cost goes to the previous step's tools, in equal shares, and
the first call of a run (or one after a step that called no tool) to ``NO_TOOL``. Spend outside a step
(``agent.usage``: a compaction, a monitor's review) goes to its purpose in brackets, ``(compaction)``.
Summed over tools, an agent's costs are its spend. The store keeps the split as a ledger while events commit
(``aar.store.cost_ledger``). The evaluator's device time per job is the report's own table (``device_time``).
"""

from __future__ import annotations

from pydantic import BaseModel

from aar.escape import one_line
from aar.store.cost_ledger import NO_TOOL
from aar.store.protocols import StoreReader

__all__ = ["NO_TOOL", "ToolCost", "cost_by_tool", "dearest_tools"]


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


async def cost_by_tool(store: StoreReader, *, since: float = 0.0) -> list[ToolCost]:
    """Each agent's spend from ``since`` on split by tool, dearest first within each agent."""
    rows = [ToolCost(agent=a, tool=t, calls=n, cost_usd=usd) for a, t, n, usd in await store.tool_costs(since=since)]
    return sorted(rows, key=lambda c: (c.agent, -c.cost_usd, c.tool))
