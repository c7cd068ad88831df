"""Flooding the supervisor's inbox (issue 22, hole 13), through the real ask tool, store and ``aar inbox``.

Fifty ``ask_supervisor`` calls in one model turn gave fifty blocking questions, ranked above the alert
about the same agent. Now the agent has one open question at a time (the others are refused with one
line), and an alert about an agent is listed beside that agent's question.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aar.events import MonitorDecided, SupervisorAsked
from aar.store import RunStore
from agents.agent_state import AgentControl
from tests.agents.helpers import config
from tests.evaluator.helpers import make_run
from tests.integrity.tool_calls import call_tool


def aar_inbox(paths_root: Path, run_id: str) -> list[dict[str, object]]:
    argv = [sys.executable, "-m", "aar_app.cli", "inbox", run_id, "--runs-dir", str(paths_root), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert isinstance(items, list)
    return items


@pytest.mark.slow
async def test_fifty_questions_in_one_turn_make_one_item_and_the_alert_stays_beside_it(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "runs" / "flood-1")
    cfg = config(team={"count": 3})
    async with await RunStore.open(paths.db, create=True) as store:
        store.emit("agent-2", SupervisorAsked(step=1, question="May I use a second GPU?", call_id="honest-q"))
        control = AgentControl("agent-1")
        results = [
            await call_tool(
                store, cfg, "agent-1", "ask_supervisor", control=control, call_id=f"q{n}", question=f"urgent {n}?"
            )
            for n in range(50)
        ]
        store.emit(
            "agent-1",
            MonitorDecided(monitor="builtin", rule="label_hunting", action="pause", reason="read evaluator/heldout"),
        )
        store.emit("agent-3", SupervisorAsked(step=1, question="Is bootstrapping allowed?", call_id="later-q"))
        await store.flush()
    refused = [r for r in results[1:] if r.is_error]
    assert not results[0].is_error and control.asking == "q0"
    assert len(refused) == 49 and all(len(r.output.splitlines()) == 1 for r in refused)
    assert "question q0 is still open" in refused[0].output
    items = aar_inbox(paths.root.parent, paths.run_id)
    shown = [(i["agent"], i["kind"]) for i in items]
    assert shown.count(("agent-1", "ask")) == 1, shown
    mine = shown.index(("agent-1", "ask"))
    assert shown[mine + 1] == ("agent-1", "monitor"), f"the alert about agent-1 follows its question: {shown}"
    assert {("agent-2", "ask"), ("agent-3", "ask")} <= set(shown), "other agents' questions are all there"


async def test_a_new_question_is_taken_once_the_first_is_answered(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "runs" / "flood-2")
    cfg = config()
    async with await RunStore.open(paths.db, create=True) as store:
        control = AgentControl("agent-1")
        first = await call_tool(store, cfg, "agent-1", "ask_supervisor", control=control, call_id="a", question="x?")
        assert control.answer(1, "a", "yes") is not None
        again = await call_tool(store, cfg, "agent-1", "ask_supervisor", control=control, call_id="b", question="y?")
        await store.flush()
    assert not first.is_error and not again.is_error and control.asking == "b", "near miss: one at a time, not one ever"
