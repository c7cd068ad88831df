"""What each tool cost: a model call is charged to the tools whose output it read, so an agent's costs by
tool sum to its spend; the report and the digest show them. A real store file and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aar import digest
from aar.costs import NO_TOOL, cost_by_tool
from aar.events import AgentStepCompleted, ToolCalled
from aar.store import RunStore
from tests.evaluator.helpers import make_run
from tests.support import aar_cli


async def _step(store: RunStore, agent: str, step: int, cost: float, *tools: str) -> None:
    """One step as the loop commits it: its model call's cost, then the tools that call asked for."""
    for n, tool in enumerate(tools):
        store.emit(agent, ToolCalled(step=step, call_id=f"{agent}-{step}-{n}", tool=tool, input={}))
    store.emit(agent, AgentStepCompleted(step=step, input_tokens=1, output_tokens=1, cost_usd=cost))
    await store.append_step(agent, step, [("assistant", [{"type": "text", "text": "."}])], steps=1, cost_usd=cost)


async def _night(store: RunStore) -> None:
    for name in ("agent-1", "agent-2"):
        await store.register_agent(name, backend="anthropic", model="claude")
    await _step(store, "agent-1", 1, 0.10, "bash")
    await _step(store, "agent-1", 2, 0.40, "bash", "read_file")  # read bash's output
    await _step(store, "agent-1", 3, 0.30, "submit_method")  # read bash's and read_file's
    await _step(store, "agent-1", 4, 0.20)  # read submit_method's
    await _step(store, "agent-2", 1, 0.05, "forum_read")


async def test_each_call_is_charged_to_the_tools_whose_output_it_read(store: RunStore) -> None:
    await _night(store)
    costs = {(c.agent, c.tool): (c.calls, round(c.cost_usd, 6)) for c in await cost_by_tool(store)}
    assert costs == {
        ("agent-1", NO_TOOL): (0, 0.10),
        ("agent-1", "bash"): (2, 0.55),
        ("agent-1", "read_file"): (1, 0.15),
        ("agent-1", "submit_method"): (1, 0.20),
        ("agent-2", NO_TOOL): (0, 0.05),
        ("agent-2", "forum_read"): (1, 0.0),
    }
    for agent in await store.agents():
        mine = sum(c for (a, _), (_, c) in costs.items() if a == agent.name)
        assert mine == pytest.approx(agent.cost_usd), "summed over tools, an agent's costs are its spend"
    found = await digest.build(store, "r1", 0.0)
    assert "  cost by tool: bash $0.55 (2 calls), submit_method $0.20 (1 calls), read_file $0.15 (1 calls)" in (
        digest.render(found)
    )


async def test_aar_report_has_the_cost_by_tool_in_markdown_and_json(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "runs" / "costs-1")
    async with await RunStore.open(paths.db, create=True) as store:
        await _night(store)
    md = aar_cli("report", str(paths.root), cwd=tmp_path)
    assert md.returncode == 0, md.stderr
    assert "## Cost by tool" in md.stdout and "| agent-1 | bash | 2 | $0.5500 |" in md.stdout
    js = aar_cli("report", str(paths.root), "--format", "json", cwd=tmp_path)
    rows = json.loads(js.stdout)["cost_by_tool"]
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(1.05)
