"""What each tool cost: a model call is charged to the tools whose output it read, so an agent's costs by
tool sum to its spend; the report and the digest show them. A real store file and the real CLI."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from aar import digest
from aar.costs import NO_TOOL, cost_by_tool
from aar.events import AgentStepCompleted, AgentUsage, ToolCalled
from aar.store import RunStore
from aar.store.schema import SCHEMA_VERSION
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


async def test_a_store_of_schema_13_gains_the_ledger_with_every_cost_already_spent(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    async with await RunStore.open(db, create=True) as store:
        await _night(store)
        await store.record_usage("agent-2", AgentUsage(purpose="compaction", cost_usd=0.5))
        before = await cost_by_tool(store)
    with sqlite3.connect(db) as raw:  # the store as aar before the ledger left it
        kinds = ("tool_call", "agent_step", "agent_usage")
        raw.executescript("".join(f"DROP TRIGGER events_cost_{k};" for k in kinds) + "DROP INDEX events_status;")
        raw.executescript("DROP TABLE tool_costs; DROP TABLE tool_costs_minutes;")
        raw.execute("PRAGMA user_version = 13")
    async with await RunStore.open(db) as store:
        assert [c.model_dump() for c in await cost_by_tool(store)] == [pytest.approx(c.model_dump()) for c in before], (
            "rebuilt from the events, the ledger says what it said when kept step by step"
        )
        assert ("agent-2", "(compaction)", 0.5) in [(c.agent, c.tool, c.cost_usd) for c in before]
        await _step(store, "agent-2", 2, 0.25, "bash")  # and steps keep it from there
        costs = {(c.agent, c.tool): round(c.cost_usd, 6) for c in await cost_by_tool(store)}
    assert costs[("agent-2", "forum_read")] == 0.25
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 14


async def test_a_step_is_charged_to_tools_called_before_the_period_it_falls_in(store: RunStore) -> None:
    await _night(store)
    since = time.time()
    await _step(store, "agent-2", 2, 0.25)  # read forum_read's output, called before ``since``
    costs = {(c.agent, c.tool): (c.calls, round(c.cost_usd, 6)) for c in await cost_by_tool(store, since=since)}
    assert costs == {("agent-2", "forum_read"): (0, 0.25)}


async def test_a_branch_first_step_reads_no_tool_of_its_own_and_its_parent_keeps_its_costs(store: RunStore) -> None:
    await _night(store)
    await store.register_agent("agent-1.b1", backend="anthropic", model="claude")
    await _step(store, "agent-1.b1", 4, 0.07, "bash")  # a branch at step 3 commits its step 4 first
    costs = {(c.agent, c.tool): (c.calls, round(c.cost_usd, 6)) for c in await cost_by_tool(store)}
    assert costs[("agent-1.b1", NO_TOOL)] == (0, 0.07)
    assert costs[("agent-1", "submit_method")] == (1, 0.20)


async def test_a_malformed_event_neither_fails_its_batch_nor_enters_the_ledger(store: RunStore) -> None:
    await store.register_agent("agent-1", backend="anthropic", model="claude")
    store.emit_raw([("agent-1", "tool.call", '{"step": 1, "tool": "ba'), ("agent-1", "agent.step", "not json")])
    await _step(store, "agent-1", 2, 0.10, "bash")
    assert await store.event_count() == 4, "the malformed rows and the step after them are all written"
    costs = {(c.agent, c.tool): (c.calls, round(c.cost_usd, 6)) for c in await cost_by_tool(store)}
    assert costs == {("agent-1", NO_TOOL): (0, 0.10), ("agent-1", "bash"): (1, 0.0)}


async def test_a_period_counts_exactly_its_rows_from_a_moment_inside_a_minute(store: RunStore) -> None:
    await store.register_agent("agent-1", backend="anthropic", model="claude")
    start = 1_800_000_000.0  # a minute's start
    rows: list[tuple[float, str, str, ToolCalled | AgentStepCompleted]] = []
    for step in range(1, 41):  # a step every 25 s over some 17 minutes, each calling bash
        ts = start + 25 * step
        rows.append((ts, "agent-1", "tool.call", ToolCalled(step=step, call_id=f"c{step}", tool="bash", input={})))
        rows.append((ts + 1, "agent-1", "agent.step", AgentStepCompleted(step=step + 1, cost_usd=0.01 * step)))
    await store._db.executemany(
        "INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)",
        [(ts, a, kind, p.model_dump_json()) for ts, a, kind, p in rows],
    )
    for since in (start, start + 60, start + 61.5, start + 333.3, start + 999, start + 5000):
        want = [(ts, p) for ts, _, _, p in rows if ts >= since]
        found = {c.tool: c for c in await cost_by_tool(store, since=since)}
        calls = sum(1 for _, p in want if isinstance(p, ToolCalled))
        usd = sum(p.cost_usd for _, p in want if isinstance(p, AgentStepCompleted))
        if not want:
            assert found == {}
            continue
        assert found["bash"].calls == calls
        assert found["bash"].cost_usd == pytest.approx(usd)
