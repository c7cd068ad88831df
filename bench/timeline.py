"""Timeline benchmark: reading a long run's timeline, and drawing 9 lanes of 2,000 marks.

A synthetic run of nine agents with EVENTS events over eight hours, written straight into a real store: the
bulk of a run (streamed text, tool calls and results, sandbox output, statuses, steps) and, among it, 2,000
marks per agent (submissions with their scores, posts, monitor flags, the supervisor's commands and pauses,
errors and sandbox restarts, budget events). Side by side in one run:

1. ``aar.timeline.load_timeline`` on the whole store, ROUNDS times: p50 and p99 (the marks are read by kind on
   the (kind, id) index; the bulk is never read).
2. The real app attached headless at 160x48, the timeline opened with ``T`` (the time to its first frame), at
   the whole run's zoom, where every mark is in view:
   - the lanes widget's whole frame (every row's strip, none reused) worked out ROUNDS * 10 times: p50 and p99;
   - keys that redraw the lanes (``n`` / ``N`` the next and previous mark, ``k`` the kind, ``+`` / ``-``
     zoom), from the key to the drawn frame (``bench.timing.key_to_frame``): p50 and p99, target < 50 ms;
     with the app following the store as when attached (its leaderboard read every second is in the frames a
     key can wait for), and again with it reading nothing meanwhile.

Usage: python bench/timeline.py [EVENTS] [ROUNDS] (default 1,000,000 and 20)
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.events import (  # noqa: E402
    AgentStatusChanged,
    AgentStepCompleted,
    BudgetWarned,
    CommandApplied,
    ErrorRaised,
    EvalScored,
    EventPayload,
    ForumPosted,
    ModelText,
    MonitorDecided,
    SandboxLifecycle,
    SandboxOutput,
    SubmissionCreated,
    ToolCalled,
    ToolReturned,
)
from aar.lock import DaemonLock  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from aar.store import RunStore  # noqa: E402
from aar.timeline import load_timeline  # noqa: E402
from bench.timing import key_to_frame  # noqa: E402

if TYPE_CHECKING:
    from tui.app import AarApp
    from tui.widgets.timeline_lanes import TimelineLanes

AGENTS = [f"agent-{i}" for i in range(1, 10)]
HOURS = 8.0
MARKS_PER_AGENT = 2000
KEYS = ("n", "n", "N", "k", "plus", "minus")
"""Keys that each redraw the lanes at the whole run's zoom: the cursor one mark on (``n n N``), the kind, ``+`` then ``-`` back."""


def _bulk(rng: random.Random, step: int) -> list[EventPayload]:
    """One step's events without a mark: about a dozen."""
    call = f"c{step}-{rng.randrange(1 << 30)}"
    out: list[EventPayload] = [AgentStatusChanged(status="thinking")]
    out += [ModelText(step=step, text="thinking about the weak labels " * 3) for _ in range(6)]
    out += [
        ToolCalled(step=step, call_id=call, tool="bash", input={"command": "python train.py"}),
        SandboxOutput(call_id=call, stream="stdout", text="epoch 1 loss 0.41\n" * 4),
        ToolReturned(step=step, call_id=call, tool="bash", ok=True, output="epoch 1 loss 0.41"),
        AgentStatusChanged(status="idle"),
        AgentStepCompleted(step=step, input_tokens=1000, output_tokens=100, cost_usd=0.01),
    ]
    return out


def _mark(rng: random.Random, n: int, submission: int) -> list[EventPayload]:
    """The events of one mark (a submission comes with its score, which is no mark of its own)."""
    roll = n % 10
    if roll < 2:
        pgr = rng.random()
        kind: Literal["predictions", "method"] = "method" if n % 3 == 0 else "predictions"
        return [
            SubmissionCreated(submission_id=submission, submission_kind=kind),
            EvalScored(job_id=submission, submission_id=submission, pgr=pgr, ci_low=pgr - 0.05, ci_high=pgr + 0.05),
        ]
    match roll:
        case 2 | 3:
            return [ForumPosted(post_id=n, title="confidence filtering at 0.8 helps")]
        case 4 | 5:
            return [MonitorDecided(monitor="builtin", rule="loops", action="flag", reason="the same call again")]
        case 6:
            return [CommandApplied(command_id=n, command="redirect", target="agent", effect="sent")]
        case 7:
            return [AgentStatusChanged(status="paused", detail="by the supervisor")]
        case 8:
            return [
                ErrorRaised(message="the sandbox failed", where="sandbox")
                if n % 2
                else SandboxLifecycle(action="restarted", backend="local")
            ]
        case _:
            return [BudgetWarned(limit="dollars", used=8, cap=10)]


async def build_store(path: Path, events: int) -> int:
    """The synthetic run; returns how many marks it holds."""
    rng = random.Random(11)
    store = await RunStore.open(path, create=True)
    for agent in AGENTS:
        await store.register_agent(agent, backend="scripted", model="scripted")
    end = time.time()
    start = end - HOURS * 3600
    steps = events // 13  # about 12.3 events a step: every agent has its marks before the end
    rows: list[tuple[float, str | None, str, str]] = []
    submissions: list[tuple[str, int]] = []
    placed = dict.fromkeys(AGENTS, 0)
    step = 0
    while len(rows) < events:
        step += 1
        agent = AGENTS[step % len(AGENTS)]
        ts = start + (end - start) * len(rows) / events
        payloads = _bulk(rng, step)
        if placed[agent] < MARKS_PER_AGENT * min(step / steps, 1.0):  # each agent's marks spread over the run
            extra = _mark(rng, sum(placed.values()), len(submissions) + 1)
            if isinstance(extra[0], SubmissionCreated):
                submissions.append((agent, extra[0].submission_id))
            payloads += extra
            placed[agent] += 1
        rows += [(ts, agent, p.kind, p.model_dump_json()) for p in payloads]
    await store._db.executemany("INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)", rows[:events])
    await store._db.executemany(
        "INSERT INTO submissions (id, ts, agent, kind, payload, status, label) VALUES (?, ?, ?, 'predictions', '{}',"
        " 'scored', ?)",
        [(sid, start, agent, f"out/file_{sid}.json") for agent, sid in submissions],
    )
    await store._db.executemany(
        "INSERT INTO eval_jobs (id, ts, kind, submission_id, spec, status, updated_ts) VALUES (?, ?, 'predictions',"
        " ?, '{}', 'done', ?)",
        [(sid, start, sid, start) for _, sid in submissions],
    )
    await store._db.executemany(
        "INSERT INTO eval_results (ts, job_id, submission_id, split, pgr, ci_low, ci_high, metrics) VALUES"
        " (?, ?, ?, 'feedback', 0.5, 0.4, 0.6, '{}')",
        [(start, sid, sid) for _, sid in submissions],
    )
    await store.close()
    return sum(placed.values())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _line(what: str, took: list[float], target: str = "") -> str:
    return f"{what}: p50 {statistics.median(took):.1f} ms, p99 {_pct(took, 0.99):.1f} ms (n={len(took)})" + (
        f" ({target})" if target else ""
    )


async def loading(db: Path, rounds: int) -> None:
    async with await RunStore.open(db) as store:
        took = []
        for _ in range(rounds):
            start = time.perf_counter()
            timeline = await load_timeline(store)
            took.append((time.perf_counter() - start) * 1000)
        events = await store.last_event_id()
    marks = len(timeline.marks())
    print(_line(f"timeline load from {events:,} events ({marks:,} marks in {len(timeline.lanes)} lanes)", took))


async def drawing(paths: RunPaths, rounds: int, *, polling: bool) -> tuple[float, list[float], list[float], str]:
    """The app at 160x48 with the timeline open at the whole run: the time ``T`` took to its first frame, the
    lanes' frames worked out directly, and the keys to their frames; ``polling``: the app follows the store as
    when attached (else it reads it once)."""
    from tui.app import POLL_INTERVAL, AarApp

    with DaemonLock(paths.lock):
        app = AarApp(paths.root, poll_interval=POLL_INTERVAL if polling else 3600.0)
        async with app.run_test(size=(160, 48)) as pilot:
            while len(app.model.agents) < len(AGENTS):
                await pilot.pause(0.05)
            opened, _ = await key_to_frame(app, "T", lambda: _opened(app))
            lanes = _lanes(app)
            assert lanes.whole and lanes.timeline is not None
            shown = sum(len(lane.marks) for lane in lanes.timeline.lanes)
            what = f"{len(lanes.timeline.lanes)} lanes x {len(lanes.rows)} rows, {shown:,} marks in view at 160x48"
            frames = []
            for n in range(rounds * 10):
                lanes.prefer = ("submission", "error")[n % 2]  # every row drawn again: none is the one before
                start = time.perf_counter()
                lanes.frame()
                frames.append((time.perf_counter() - start) * 1000)
            lanes.prefer = None
            keys: list[float] = []
            for _ in range(rounds):
                for key in KEYS:
                    wall, _cpu = await key_to_frame(app, key, _changed(lanes))
                    keys.append(wall)
            assert lanes.whole
    return opened, frames, keys, what


def _changed(lanes: TimelineLanes) -> Callable[[], bool]:
    """Whether a key has moved the cursor, the window or the chosen kind since this was called."""

    def view() -> tuple[object, ...]:
        return lanes.cursor, lanes.start, lanes.span, lanes.prefer

    before = view()
    return lambda: view() != before


def _opened(app: AarApp) -> bool:
    """The timeline is on screen with its lanes read."""
    from tui.screens.timeline import TimelineScreen
    from tui.widgets.timeline_lanes import TimelineLanes

    found = app.screen.query(TimelineLanes) if isinstance(app.screen, TimelineScreen) else None
    return bool(found) and found is not None and found.first().timeline is not None


def _lanes(app: AarApp) -> TimelineLanes:
    from tui.widgets.timeline_lanes import TimelineLanes

    return app.screen.query_one(TimelineLanes)


async def main(events: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aar-bench-timeline-") as tmp:
        paths = RunPaths(Path(tmp) / "run")
        paths.make()
        paths.config.write_text('[run]\nname = "bench"\n')
        t = time.perf_counter()
        marks = await build_store(paths.db, events)
        async with await RunStore.open(paths.db) as store:
            await store.set_meta("run_id", "bench")
            await store.set_meta("state", "running")
        print(
            f"built a run of {events:,} events, {marks:,} marks, over {HOURS:g} hours in {time.perf_counter() - t:.0f}s"
        )
        await loading(paths.db, rounds)
        opened, frames, keys, what = await drawing(paths, rounds, polling=True)
        _, _, quiet, _ = await drawing(paths, rounds, polling=False)
        print(f"timeline open (T to its first frame, the load included): {opened:.0f} ms")
        print(_line(f"lanes frame, {what}", frames))
        print(_line(f"key to frame ({', '.join(KEYS)}), the app following the run", keys, "target p99 < 50 ms"))
        print(_line("key to frame, the same keys, the app reading nothing meanwhile", quiet))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    events, rounds = (args + [1_000_000, 20][len(args) :])[:2]
    asyncio.run(main(events, rounds))
