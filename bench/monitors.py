"""Monitors benchmark: the daemon's CPU with the built-in monitors on vs off, at about 5,000 events/s.

Side by side in one run (the machines are shared and noisy, so only ratios
taken in one run mean anything), alternating off and on for several rounds:
a real run store takes a stream of the events a busy team of nine writes, each payload
built as it is emitted (as the agents' loops do)
(streamed text, sandbox output, bash calls and their results, statuses,
steps, forum posts with PGR claims, submissions), paced at RATE events a
second, emitted and flushed exactly as the daemon does. With the monitors on,
``MonitorRunner`` hears every event, runs every built-in rule (label hunting
on each command, loops, error streaks, idleness, probing, the claim check of
each post against the store) and records its decisions.

CPU is the process's (all threads: the event loop and SQLite's writer),
measured over each phase. Last line: the median on/off ratio; target <= 1.1.
Usage: python bench/monitors.py [SECONDS_PER_PHASE] [ROUNDS] [RATE]
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel  # noqa: E402

from aar.config import RunConfig  # noqa: E402
from aar.events import (  # noqa: E402
    AgentStatusChanged,
    AgentStepCompleted,
    EventPayload,
    ForumPosted,
    ModelText,
    SandboxOutput,
    SubmissionCreated,
    ToolCalled,
    ToolReturned,
)
from aar.runtime import RunContext, RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from agents.monitors import MonitorRunner  # noqa: E402

AGENTS = [f"agent-{i}" for i in range(1, 10)]
TICK_S = 0.01
POST_EVERY = 5000
COMMANDS = [
    "python -m evaluator.compute.run_method methods/filtering_keep_0_7.py --bundle task --seed 0 --out out/f.json",
    "grep -n weak_labels methods/filtering_keep_0_7.py",
    "ls -la task/ && head -c 300 task/README.md",
    "python -c \"import json; p = json.load(open('out/f.json')); print(len(p['feedback']))\"",
    "find . -name '*.py' | xargs wc -l",
]


def stream(n: int) -> list[tuple[str, type[BaseModel], dict[str, object]]]:
    """``n`` events in the proportions of a busy team; one forum post (with claims to check) and one
    submission per ``POST_EVERY`` events: at 5,000 events/s a post a second, more than nine researchers write."""
    out: list[tuple[str, type[BaseModel], dict[str, object]]] = []
    for k in range(n):
        agent = AGENTS[k % len(AGENTS)]
        step, roll = k // 50, k % 100
        if roll < 40:
            payload: tuple[type[BaseModel], dict[str, object]] = (
                ModelText,
                {"step": step, "text": "Filtering at keep=0.7 looks promising; next the warmup. "},
            )
        elif roll < 70:
            payload = (
                SandboxOutput,
                {"call_id": f"c{k}", "stream": "stdout", "text": f"epoch {k % 20}: loss 0.{k % 97:02d}\n"},
            )
        elif roll < 80:
            payload = (
                ToolCalled,
                {"step": step, "call_id": f"c{k}", "tool": "bash", "input": {"command": COMMANDS[k % 5]}},
            )
        elif roll < 90:
            payload = (
                ToolReturned,
                {"step": step, "call_id": f"c{k}", "tool": "bash", "ok": k % 7 != 0, "output": "ok"},
            )
        elif roll < 95:
            payload = (AgentStatusChanged, {"status": "running_tool", "detail": "bash"})
        elif roll < 99 or k % POST_EVERY not in (99, 599):
            payload = (AgentStepCompleted, {"step": step, "input_tokens": 900, "output_tokens": 80})
        elif k % POST_EVERY == 99:
            payload = (ForumPosted, {"post_id": 1 + k // POST_EVERY, "title": "Result: filtering: PGR 0.412"})
        else:
            payload = (
                SubmissionCreated,
                {"submission_id": 1 + (k // POST_EVERY) % 10, "submission_kind": "predictions"},
            )
        out.append((agent, *payload))
    return out


async def seed(store: RunStore, posts: int) -> None:
    """Posts with claims and scored submissions, so the claim checks read a real store."""
    metrics = {"acc_weak": 0.7, "acc_transfer": 0.812, "acc_ceiling": 0.9}
    for i in range(10):
        agent = AGENTS[i % len(AGENTS)]
        sub = await store.add_submission(agent, "predictions", {"predictions": [0, 1]})
        job = await store.enqueue_job("predictions", {}, submission_id=sub)
        await store.add_result(
            job, submission_id=sub, split="feedback", pgr=0.41, ci_low=0.3, ci_high=0.5, metrics=metrics
        )
        await store.update_submission(sub, status="scored")
    for i in range(posts):
        body = "Filtering at keep=0.7: PGR 0.412 [95% CI 0.300, 0.500], accuracy 0.812.\n```\nlr = 0.001\n```"
        await store.add_post(AGENTS[i % len(AGENTS)], f"Result: filtering {i}", body)


async def phase(root: Path, monitors: bool, seconds: float, rate: int) -> tuple[float, float, int, int]:
    """(CPU seconds, wall seconds, events emitted, monitor decisions) of one phase."""
    paths = RunPaths(root)
    paths.make()
    config = RunConfig.model_validate({"run": {"name": "bench"}, "team": {"count": 9}})
    store = await RunStore.open(paths.db, create=True)
    events = stream(int(seconds * rate))
    await seed(store, sum(model is ForumPosted for _, model, _ in events))
    ctx = RunContext(paths=paths, config=config, store=store)
    runner = MonitorRunner(ctx) if monitors else None
    task = asyncio.create_task(runner.run()) if runner else None
    per_tick = max(1, int(rate * TICK_S))
    await asyncio.sleep(0.1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(events), per_tick):
        for agent, model, fields in events[start : start + per_tick]:
            # The daemon builds each event's payload as it emits it; stream() picks only event payload models.
            store.emit(agent, cast(EventPayload, model(**fields)))
        due = wall0 + (start + per_tick) / rate
        await asyncio.sleep(max(due - time.perf_counter(), 0))
    await store.flush()
    if runner is not None:
        while not runner.caught_up:
            await asyncio.sleep(0.005)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    decisions = runner.decisions if runner else 0
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await store.close()
    return cpu, wall, len(events), decisions


async def main(seconds: float, rounds: int, rate: int) -> None:
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            # Alternate which goes first, so a drift of the shared machine weighs on both alike.
            if r % 2:
                on = await phase(Path(tmp) / f"on-{r}", True, seconds, rate)
                off = await phase(Path(tmp) / f"off-{r}", False, seconds, rate)
            else:
                off = await phase(Path(tmp) / f"off-{r}", False, seconds, rate)
                on = await phase(Path(tmp) / f"on-{r}", True, seconds, rate)
            ratio = on[0] / off[0]
            ratios.append(ratio)
            print(
                f"round {r + 1}: off {off[0]:.2f}s CPU for {off[2]} events in {off[1]:.2f}s ({off[2] / off[1]:.0f}/s); "
                f"on {on[0]:.2f}s CPU in {on[1]:.2f}s ({on[2] / on[1]:.0f}/s), {on[3]} decisions; on/off {ratio:.3f}"
            )
    print(
        f"daemon CPU with the built-in monitors on / off at {rate} events/s (median of {rounds}): {statistics.median(ratios):.3f} (target <= 1.1)"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            float(args[0]) if args else 5.0,
            int(args[1]) if len(args) > 1 else 3,
            int(args[2]) if len(args) > 2 else 5000,
        )
    )
