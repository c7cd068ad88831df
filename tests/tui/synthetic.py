"""A run store with fixed content (names, numbers, timestamps) for Pilot and snapshot tests.

It is written through the real ``RunStore`` into a real SQLite file, then its
timestamps are pinned so that screens render the same on every machine.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    ApprovalRequested,
    CommandApplied,
    EvalScored,
    ModelText,
    SandboxExited,
    SandboxOutput,
    ToolCalled,
    ToolReturned,
)
from aar.runtime import RunPaths
from aar.store import RunStore

RUN_ID = "demo-20260101-000000"
FIXED_TS = 1767225600.0
"""2026-01-01 00:00:00 UTC."""
CONFIG = """\
[run]
name = "demo"
dollar_cap = 25.0

[evaluator]
device = "cpu"
"""
HOSTILE = "[bold red]not markup[/] \x1b[31mred?\x1b[0m done"
"""Agent text that would be markup and an ANSI colour if it were interpreted."""


async def build_run(root: Path, *, agents: int = 4, hostile: bool = False) -> RunPaths:
    """A run folder with ``agents`` agents, a forum, a leaderboard and a pending approval on agent-2."""
    paths = RunPaths(root)
    paths.make()
    paths.config.write_text(CONFIG)
    async with await RunStore.open(paths.db, create=True) as store:
        await store.set_meta("run_id", RUN_ID)
        await store.set_meta("state", "running")
        for i in range(1, agents + 1):
            name = f"agent-{i}"
            await store.register_agent(
                name, backend="scripted", model="scripted-researcher", direction=f"direction {i}"
            )
            await store.update_agent(name, status="thinking" if i != 2 else "waiting_approval", isolation="bubblewrap")
            await store.add_usage(name, steps=i, input_tokens=1000 * i, output_tokens=250 * i, cost_usd=0.05 * i)
            store.emit(name, AgentStatusChanged(status="thinking"))
            store.emit(name, ModelText(step=i, text=f"I will try idea {i} on the toy task.\nFirst, read the bundle."))
            call = f"call-{i}"
            store.emit(
                name, ToolCalled(step=i, call_id=call, tool="bash", input={"command": f"python train.py --lr 0.00{i}"})
            )
            store.emit(
                name,
                SandboxOutput(
                    call_id=call, stream="stdout", text=f"epoch 1 loss 0.{70 - i}\nepoch 2 loss 0.{60 - i}\n"
                ),
            )
            store.emit(name, SandboxExited(call_id=call, exit_code=0, duration_s=1.5))
            store.emit(name, ToolReturned(step=i, call_id=call, tool="bash", ok=True, output="epoch 2 loss 0.5"))
            store.emit(name, AgentStepCompleted(step=i, input_tokens=1000, output_tokens=250, cost_usd=0.05))
            await store.append_messages(
                name,
                i,
                [
                    ("user", f"Your direction: direction {i}"),
                    (
                        "assistant",
                        [
                            {"type": "text", "text": f"I will try idea {i}."},
                            {"type": "tool_use", "id": call, "name": "bash", "input": {"command": "ls task"}},
                        ],
                    ),
                    (
                        "user",
                        [
                            {
                                "type": "tool_result",
                                "tool_use_id": call,
                                "content": "README.md\ntrain.jsonl",
                                "is_error": False,
                            }
                        ],
                    ),
                ],
            )
            workspace = paths.workspace(name)
            (workspace / "task").mkdir(parents=True, exist_ok=True)
            (workspace / "task" / "README.md").write_text("# toy task\n")
            (workspace / "method.py").write_text(f"def run(ctx):\n    return {i}\n")
        if agents >= 2:
            store.emit("agent-2", ApprovalRequested(call_id="call-2b", tool="bash", input={"command": "rm -rf task"}))
            store.emit("agent-2", AgentStatusChanged(status="waiting_approval", detail="bash"))
        if hostile:
            store.emit("agent-1", ModelText(step=9, text=HOSTILE + "\n"))
            await store.add_post("agent-1", "[red]hostile title[/]", HOSTILE)
        first = await store.add_post("agent-1", "Confidence loss works", "aux_weight 0.5 gave PGR 0.41 on feedback.")
        await store.add_post("agent-3", "Filtering threshold", "Threshold 0.8 looks best so far.")
        await store.add_post("agent-2", "Re: confidence", "Confirmed with 3 seeds.", parent_id=first)
        scored = [
            ("agent-1", 0.41, [], "out/confidence_aux_weight_0_5.json"),
            ("agent-3", 0.33, [], "out/filtering.json"),
            ("agent-4", 0.97, ["probe"], "probe.json"),
        ]
        for agent, value, flags, label in scored:
            sub = await store.add_submission(agent, "predictions", {"predictions": [0, 1]}, flags=flags, label=label)
            job = await store.enqueue_job("score", {"submission": sub}, submission_id=sub, status="done")
            await store.add_result(
                job,
                submission_id=sub,
                split="feedback",
                pgr=value,
                ci_low=value - 0.05,
                ci_high=value + 0.05,
                metrics={},
            )
            await store.update_submission(sub, status="scored")
            store.emit(
                agent,
                EvalScored(
                    job_id=job, submission_id=sub, pgr=value, ci_low=value - 0.05, ci_high=value + 0.05, flags=flags
                ),
            )
        await store.enqueue_job("baseline", {"seed": 0})
        store.emit(
            None, CommandApplied(command_id=0, command="approval_on", target="agent-2", effect="approval mode on")
        )
        await store.flush()
    _pin_timestamps(paths.db)
    return paths


def _pin_timestamps(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        for table in ("events", "forum_posts", "submissions", "eval_jobs", "eval_results", "transcripts", "commands"):
            conn.execute(f"UPDATE {table} SET ts = ? + id", (FIXED_TS,))
        conn.execute("UPDATE agents SET started_ts = ?, updated_ts = ?", (FIXED_TS, FIXED_TS))
        conn.execute("UPDATE eval_jobs SET updated_ts = ?", (FIXED_TS,))
