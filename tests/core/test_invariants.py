"""The chaos invariants on a real store: an honest run passes every one, and each crafted violation is caught."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from aar import invariants
from aar.commands import Budget, Pause, Redirect, StopRun
from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    BudgetChanged,
    CommandApplied,
    RunLog,
    SupervisorAsked,
    ToolCalled,
    ToolReturned,
)
from aar.inbox import catch_up
from aar.invariants import Checked, check_store
from aar.store import RunStore

AGENT = "agent-1"


async def _honest(db: Path) -> None:
    """A small run as the daemon writes it: steps with their events, commands applied once, a budget raise,
    a scored, a rejected and a queued submission, a tool call answered, the inbox folded."""
    async with await RunStore.open(db, create=True) as store:
        await store.register_agent(AGENT, backend="scripted", model="m")
        await store.append_messages(AGENT, 0, [("user", "start")])
        for step in (1, 2):
            use = {"type": "tool_use", "id": f"call-{step}", "name": "bash", "input": {"command": "ls"}}
            result = {"type": "tool_result", "tool_use_id": f"call-{step}", "content": "ok"}
            await store.append_step(
                AGENT, step, [("assistant", [use]), ("user", [result])], steps=1, input_tokens=10, cost_usd=0.25
            )
            store.emit(AGENT, ToolCalled(step=step, call_id=f"call-{step}", tool="bash", input={"command": "ls"}))
            store.emit(AGENT, ToolReturned(step=step, call_id=f"call-{step}", tool="bash", ok=True, output="ok"))
            store.emit(AGENT, AgentStepCompleted(step=step, input_tokens=10, cost_usd=0.25))
        store.emit(AGENT, SupervisorAsked(step=2, question="which threshold?", call_id="call-2"))
        store.emit(AGENT, AgentStatusChanged(status="thinking", detail="answered"))  # clears the question's item
        store.emit(None, RunLog(level="warning", message="a warning for the inbox"))

        pause = await store.issue_command(Pause(), AGENT)
        await store.mark_command(pause, effect="paused")
        store.emit(AGENT, CommandApplied(command_id=pause, command="pause", target=AGENT, effect="paused"))
        budget = await store.issue_command(Budget(resource="dollars", amount=1.0), AGENT)
        await store.apply_budget_change(budget, [(AGENT, "dollars", 1.0, "")], "raised")
        store.emit(AGENT, BudgetChanged(command_id=budget, resource="dollars", delta=1.0, budget=2.0))
        store.emit(AGENT, CommandApplied(command_id=budget, command="budget", target=AGENT, effect="raised"))

        scored = await store.add_submission(AGENT, "predictions", {})
        job = await store.enqueue_job("predictions", {"kind": "predictions"}, submission_id=scored)
        await store.claim_job("w")
        await store.add_result(
            job, submission_id=scored, split="feedback", pgr=0.5, ci_low=0.4, ci_high=0.6, metrics={}
        )
        await store.update_job(job, status="done")
        await store.update_submission(scored, status="scored")
        rejected = await store.add_submission(AGENT, "predictions", {})
        await store.update_submission(rejected, status="rejected", error="over the query budget")
        waiting = await store.add_submission(AGENT, "method", {})
        await store.enqueue_job("method", {"kind": "method"}, submission_id=waiting)
        await store.update_submission(waiting, status="running")

        stop = await store.issue_command(StopRun(by="aar stop"), "@run")
        await store.mark_command(stop, effect="stopping")
        store.emit(None, CommandApplied(command_id=stop, command="stop_run", target="@run", effect="stopping"))
        await store.issue_command(Redirect(text="written after the stop"), AGENT)  # pending, and rightly so
        await store.flush()
        await catch_up(store)


@pytest.fixture(scope="module")
def honest_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("honest") / "run.db"
    asyncio.run(_honest(db))
    return db


def _by_name(checks: list[Checked]) -> dict[str, Checked]:
    return {c.name: c for c in checks}


def test_an_honest_run_passes_every_invariant(honest_db: Path) -> None:
    checks = check_store(honest_db)
    assert [c.name for c in checks] == [c.__name__ for c in invariants.CHECKS]
    assert [c.line() for c in checks if not c.ok] == []
    counts = {c.name: c.count for c in checks}
    assert all(n > 0 for n in counts.values()), counts  # each check looked at something


def _crafted(honest_db: Path, tmp_path: Path, sql: str) -> Path:
    db = tmp_path / "run.db"
    shutil.copy(honest_db, db)
    with sqlite3.connect(db) as conn:
        conn.executescript(sql)
    conn.close()
    return db


def _event(kind: str, payload: str) -> str:
    return f"INSERT INTO events (ts, agent, kind, payload) VALUES (0, '{AGENT}', '{kind}', '{payload}')"


CRAFTED: list[tuple[str, str, str]] = [
    ("events_contiguous", "UPDATE events SET id = id + 5 WHERE id = (SELECT MAX(id) FROM events)", "jump"),
    (
        "commands_applied_once",
        _event(
            "command.applied",
            '{"kind":"command.applied","command_id":1,"command":"pause","target":"agent-1","effect":"again"}',
        ),
        "2 command.applied",
    ),
    ("commands_applied_once", "UPDATE commands SET status = 'pending' WHERE id = 1", "still pending"),
    (
        "commands_applied_once",
        "DELETE FROM events WHERE kind = 'command.applied' AND json_extract(payload, '$.command_id') = 1",
        "0 command.applied",
    ),
    ("submissions_terminal", "UPDATE eval_jobs SET status = 'failed' WHERE submission_id = 3", "no job will score it"),
    ("submissions_terminal", "UPDATE submissions SET error = '' WHERE status = 'rejected'", "gives no reason"),
    ("submissions_terminal", "DELETE FROM eval_results", "no result row"),
    (
        "leaderboard_matches_results",
        "INSERT INTO eval_results (ts, job_id, submission_id, split, metrics) SELECT ts, job_id, submission_id, split, metrics FROM eval_results",
        "2 times",
    ),
    ("leaderboard_matches_results", "UPDATE eval_jobs SET status = 'queued' WHERE id = 1", "not a finished job"),
    ("jobs_settled", "UPDATE eval_jobs SET status = 'running' WHERE id = 2", "stuck running"),
    ("jobs_settled", "UPDATE eval_jobs SET attempts = 2 WHERE id = 2", "no worker will take it"),
    (
        "spend_matches_calls",
        "DELETE FROM events WHERE id = (SELECT MAX(id) FROM events WHERE kind = 'agent.step')",
        "in its agent.step/usage events",
    ),
    ("spend_matches_calls", "UPDATE agents SET cost_usd = cost_usd + 0.01", "spent in the agents table"),
    (
        "budget_changes_once",
        _event(
            "budget.changed", '{"kind":"budget.changed","command_id":2,"resource":"dollars","delta":1.0,"budget":3.0}'
        ),
        "2 budget.changed",
    ),
    (
        "budget_changes_once",
        "UPDATE commands SET status = 'rejected' WHERE kind = 'budget'",
        "but has 1 budget change row",
    ),
    ("inbox_matches_rebuild", "DELETE FROM inbox WHERE kind = 'warning'", "the inbox lacks"),
    ("inbox_matches_rebuild", "UPDATE inbox SET cleared_event = NULL", "is not in a rebuild"),
    ("inbox_matches_rebuild", _event("agent.ask", '{"kind":"agent.ask","step":1'), "the inbox lacks"),
    (
        "tool_uses_answered",
        "DELETE FROM transcripts WHERE id = (SELECT MAX(id) FROM transcripts)",
        "has no tool_result",
    ),
    (
        "store_integrity",
        "INSERT INTO commands (ts, target, kind, payload, status) VALUES (0, 'agent-1', 'teleport', '{}', 'applied')",
        "unknown kind",
    ),
]


@pytest.mark.parametrize(("name", "sql", "evidence"), CRAFTED, ids=[f"{n}-{e}" for n, _, e in CRAFTED])
def test_a_crafted_violation_is_caught(honest_db: Path, tmp_path: Path, name: str, sql: str, evidence: str) -> None:
    checks = _by_name(check_store(_crafted(honest_db, tmp_path, sql)))
    caught = checks[name]
    assert not caught.ok, f"{name} missed: {sql}"
    assert any(evidence in v for v in caught.violations), caught.violations


def test_a_malformed_event_or_command_row_is_no_violation(honest_db: Path, tmp_path: Path) -> None:
    """What the chaos bench writes into the store is bad input the daemon handles, not a broken invariant: an
    unreadable event is in the rebuilt inbox too, a rejected unknown command is applied once."""
    db = _crafted(honest_db, tmp_path, _event("agent.dream", '{"kind":"agent.dream"}'))

    async def fold() -> None:
        async with await RunStore.open(db) as store:
            await catch_up(store)

    asyncio.run(fold())
    assert [c.line() for c in check_store(db) if not c.ok] == []


def test_a_check_that_cannot_read_the_store_is_a_violation(tmp_path: Path) -> None:
    def broken(_: sqlite3.Connection) -> Checked:
        raise sqlite3.DatabaseError("database disk image is malformed")

    db = tmp_path / "run.db"

    async def create() -> None:
        await (await RunStore.open(db, create=True)).close()

    asyncio.run(create())
    checks: tuple[Callable[[sqlite3.Connection], Checked], ...] = (broken,)
    (result,) = check_store(db, checks)
    assert result.violations == ["the check failed: DatabaseError: database disk image is malformed"]
