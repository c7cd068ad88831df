"""The synthetic run (``tests.tui.synthetic``, nine agents) with what a timeline shows, an event a minute over about an hour and
a half: each agent's steps (their transcripts folded into the search index), the evaluator's intake of every
submission (a scored method, a scored, a flagged and an unscored prediction file), the agents' posts, a
monitor's flag, a pause and a broadcast from the supervisor, an error and a sandbox restart, budget events,
and a word only a tool's output holds (``SECRET_WORD``). Agent text is hostile: a post title, a monitor's
reason and an error carry markup and escapes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    BudgetChanged,
    BudgetWarned,
    CommandApplied,
    ErrorRaised,
    EvalScored,
    ForumPosted,
    ModelText,
    MonitorDecided,
    SandboxLifecycle,
    SubmissionCreated,
    ToolCalled,
    ToolReturned,
)
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.synthetic import FIXED_TS, HOSTILE, build_run

AGENTS = 9
"""As in the study: nine lanes fold to one row each at 80x24."""
EVENT_S = 60.0
"""Every event is pinned ``EVENT_S`` after the one before it."""
SECRET_WORD = "zanzibar"
"""Written once, in agent-3's tool output at ``SECRET_STEP``."""
SECRET_STEP = 7


async def _steps(store: RunStore, agent: str, steps: range, *, output: str = "README.md") -> None:
    for step in steps:
        call = f"{agent}-c{step}"
        store.emit(agent, ModelText(step=step, text=f"step {step}: trying the next idea"))
        store.emit(agent, ToolCalled(step=step, call_id=call, tool="bash", input={"command": "ls task"}))
        store.emit(agent, ToolReturned(step=step, call_id=call, tool="bash", ok=True, output=output))
        store.emit(agent, AgentStepCompleted(step=step, input_tokens=100, output_tokens=10, cost_usd=0.01))
        await store.append_messages(
            agent,
            step,
            [
                (
                    "assistant",
                    [
                        {"type": "text", "text": f"Step {step} of {agent}."},
                        {"type": "tool_use", "id": call, "name": "bash", "input": {"command": "ls task"}},
                    ],
                ),
                ("user", [{"type": "tool_result", "tool_use_id": call, "content": output, "is_error": False}]),
            ],
        )


async def timeline_run(root: Path) -> RunPaths:
    paths = await build_run(root, agents=AGENTS, hostile=True)
    async with await RunStore.open(paths.db) as store:
        for sid, agent, flags in ((1, "agent-1", []), (2, "agent-3", []), (3, "agent-4", ["probe"])):
            store.emit(agent, SubmissionCreated(submission_id=sid, submission_kind="predictions", flags=flags))
        await _steps(store, "agent-1", range(10, 13))
        store.emit("agent-1", ForumPosted(post_id=1, title="[red]hostile title[/]"))
        store.emit("agent-1", ForumPosted(post_id=2, title="Confidence loss works"))
        await _steps(store, "agent-2", range(10, 12))
        method = await store.add_submission("agent-2", "method", {"source": "def run(ctx): ..."}, label="boot.py")
        store.emit("agent-2", SubmissionCreated(submission_id=method, submission_kind="method"))
        store.emit("agent-3", ForumPosted(post_id=3, title="Filtering threshold"))
        store.emit("agent-4", MonitorDecided(monitor="builtin", rule="label_hunting", action="flag", reason=HOSTILE))
        await _steps(store, "agent-3", range(5, SECRET_STEP))
        await _steps(store, "agent-3", range(SECRET_STEP, SECRET_STEP + 1), output=f"cat /data/{SECRET_WORD}.csv")
        store.emit("agent-3", CommandApplied(command_id=1, command="pause", target="agent-3", effect="pauses"))
        store.emit("agent-3", AgentStatusChanged(status="paused", detail="by the supervisor"))
        store.emit(None, CommandApplied(command_id=2, command="redirect", target="*", effect="sent to 4 agents"))
        store.emit("agent-2", ErrorRaised(message=HOSTILE, where="agent"))
        store.emit("agent-2", SandboxLifecycle(action="restarted", backend="local", detail="after the error"))
        store.emit("agent-2", ForumPosted(post_id=4, title="Re: confidence"))
        await _steps(store, "agent-4", range(5, 8))
        job = await store.enqueue_job("method", {}, submission_id=method, status="done")
        await store.add_result(
            job, submission_id=method, split="seeds", pgr=0.62, ci_low=0.55, ci_high=0.69, metrics={}
        )
        store.emit("agent-2", EvalScored(job_id=job, submission_id=method, pgr=0.62, ci_low=0.55, ci_high=0.69))
        store.emit("agent-1", BudgetWarned(limit="dollars", used=8, cap=10))
        store.emit("agent-1", BudgetChanged(command_id=3, resource="dollars", delta=5, budget=15))
        late = await store.add_submission("agent-3", "predictions", {"predictions": [1, 0]}, label="late.json")
        store.emit("agent-3", SubmissionCreated(submission_id=late, submission_kind="predictions"))
        await _steps(store, "agent-1", range(13, 15))
        await store.flush()
    with sqlite3.connect(paths.db) as conn:
        conn.execute("UPDATE events SET ts = ? + ? * id", (FIXED_TS, EVENT_S))
        conn.execute(  # a step's messages at the time of its ``agent.step`` event, as the agent loop writes them
            "UPDATE transcripts SET ts = COALESCE((SELECT MAX(e.ts) FROM events e WHERE e.kind = 'agent.step'"
            " AND e.agent = transcripts.agent AND json_extract(e.payload, '$.step') = transcripts.step), ts)"
        )
        conn.executescript("DROP TRIGGER forum_posts_search; DROP TABLE search_fts;")
    async with await RunStore.open(paths.db) as store:  # the index made again, with the pinned times
        await store.catch_up_search()
    return paths
