"""Replay benchmark: a jump to any moment of a long run, against attaching live to it; what the daemon's
checkpoints cost the store's writes; the memory of a process that replays.

A synthetic run of nine agents with EVENTS events over eight hours is written straight into a real store
(statuses, streamed text, tool calls and output, steps with their cost; now and then a post, a monitor's
flag, and a submission with its job, its result and their events), and its checkpoints are written as a
resumed daemon would catch up. Then, side by side in one run (the machines are shared and noisy):

1. Live attach (``RunClient.open`` + ``RunClient.backlog()``), ROUNDS times; a replay jump
   (``RunClient.resolve_at`` of a time + ``RunClient.moment``) to JUMPS random moments, on one client.
   p50 and p99 of each, and their ratios (jump / attach): targets p99 <= 300 ms and <= 3x.
2. The same steps written to two stores as the agent loop writes them (events, then ``append_step``),
   alternating chunks, one with the daemon's checkpoint task (``aar.checkpoint.follow``) running beside:
   the write-time ratio, and the ratio with every checkpoint due written (its whole cost), target <= 1.05.
   Then the same with the events alone through ``emit`` + ``flush``, the store's fastest path.
3. A fresh process that opens the run, jumps to JUMPS moments and folds each into the TUI's model
   (``tui.model.RunModel``): its peak RSS. Then a fresh process running the control room itself (``AarApp``,
   headless at 160x48) opened on the replay of a moment, stepping by minute and by event through JUMPS
   moments, each drawn: its peak RSS, against the target of < 200 MB.

Usage: python bench/replay.py [EVENTS] [JUMPS] (default 1,000,000 and 50)
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar import checkpoint  # noqa: E402
from aar.events import (  # noqa: E402
    AgentStatusChanged,
    AgentStepCompleted,
    EvalJobChanged,
    EvalScored,
    EventPayload,
    ForumPosted,
    ModelText,
    MonitorDecided,
    RunStateChanged,
    SandboxOutput,
    SubmissionCreated,
    ToolCalled,
    ToolReturned,
)
from aar.inbox import catch_up as fold_inbox  # noqa: E402
from aar.store import RunStore  # noqa: E402
from tui.model import RunModel  # noqa: E402
from tui.service import RunClient  # noqa: E402

AGENTS = [f"agent-{i}" for i in range(1, 10)]
HOURS = 8.0
ROUNDS = 10
CHUNK_STEPS = 4000
"""Steps (12 events each) written to one store before the other takes its turn (the write-cost comparison): long
enough for the checkpoint task to wake during them."""
WRITE_EVENTS = 300_000
"""Events written to each store in the write-cost comparison."""


def _step(rng: random.Random, step: int) -> list[EventPayload]:
    """The events of one step of an agent, about a dozen."""
    call = f"c{step}"
    out: list[EventPayload] = [AgentStatusChanged(status="thinking")]
    out += [ModelText(step=step, text="thinking about the weak labels " * 3) for _ in range(6)]
    out += [
        ToolCalled(step=step, call_id=call, tool="bash", input={"command": "python train.py"}),
        SandboxOutput(call_id=call, stream="stdout", text="epoch 1 loss 0.41\n" * 4),
        ToolReturned(step=step, call_id=call, tool="bash", ok=True, output="epoch 1 loss 0.41"),
        AgentStatusChanged(status="idle"),
        AgentStepCompleted(step=step, input_tokens=1000, output_tokens=100, cost_usd=rng.random() / 50),
    ]
    return out


class _Ids:
    """The ids the next post, submission, job and result take in the synthetic store."""

    def __init__(self) -> None:
        self.post = self.submission = self.job = self.result = 0


async def build_store(root: Path, events: int) -> None:
    """The synthetic run at ``root/run.db``, its inbox folded; written in chunks straight into the tables."""
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    store = await RunStore.open(root / "run.db", create=True)
    for agent in AGENTS:
        await store.register_agent(agent, backend="scripted", model="scripted")
    end = time.time()
    start = end - HOURS * 3600
    ids = _Ids()
    rows: list[tuple[float, str | None, str, str]] = []
    posts: list[tuple[int, float, str, str, str]] = []
    subs: list[tuple[int, float, str]] = []
    jobs: list[tuple[int, float, int]] = []
    results: list[tuple[int, float, int, int, float]] = []
    written, step = 0, 0

    def add(ts: float, agent: str | None, payloads: list[EventPayload]) -> None:
        rows.extend((ts, agent, p.kind, p.model_dump_json()) for p in payloads)

    add(start, None, [RunStateChanged(state="starting"), RunStateChanged(state="running")])
    while written + len(rows) < events:
        step += 1
        agent = AGENTS[step % len(AGENTS)]
        ts = start + (end - start) * (written + len(rows)) / events
        add(ts, agent, _step(rng, step))
        if step % 40 == 0:
            ids.post += 1
            posts.append((ids.post, ts, agent, f"Result of step {step}", "PGR 0.4 with filtering"))
            add(ts, agent, [ForumPosted(post_id=ids.post, title=f"Result of step {step}")])
        if step % 97 == 0:
            add(ts, agent, [MonitorDecided(monitor="builtin", rule="loops", action="flag", reason="again")])
        if step % 60 == 0:
            ids.submission += 1
            ids.job += 1
            ids.result += 1
            pgr = rng.random()
            subs.append((ids.submission, ts, agent))
            jobs.append((ids.job, ts, ids.submission))
            results.append((ids.result, ts, ids.job, ids.submission, pgr))
            add(
                ts,
                agent,
                [
                    SubmissionCreated(submission_id=ids.submission, submission_kind="predictions"),
                    EvalJobChanged(job_id=ids.job, job_kind="predictions", status="queued"),
                    EvalJobChanged(job_id=ids.job, job_kind="predictions", status="running"),
                    EvalJobChanged(job_id=ids.job, job_kind="predictions", status="done"),
                    EvalScored(job_id=ids.job, submission_id=ids.submission, pgr=pgr, ci_low=pgr, ci_high=pgr),
                ],
            )
        if len(rows) >= 50_000:
            written += await _insert(store, rows, posts, subs, jobs, results, events - written)
    written += await _insert(store, rows, posts, subs, jobs, results, events - written)
    await store._db.execute(  # as the agent loop keeps it: each agent's spend is the sum of its steps'
        "UPDATE agents SET cost_usd = (SELECT COALESCE(SUM(json_extract(payload, '$.cost_usd')), 0) FROM events e"
        " WHERE e.kind = 'agent.step' AND e.agent = agents.name),"
        " steps = (SELECT COUNT(*) FROM events e WHERE e.kind = 'agent.step' AND e.agent = agents.name)"
    )
    await store.set_meta("state", "finished")
    await fold_inbox(store)
    await store.close()


async def _insert(
    store: RunStore,
    rows: list[tuple[float, str | None, str, str]],
    posts: list[tuple[int, float, str, str, str]],
    subs: list[tuple[int, float, str]],
    jobs: list[tuple[int, float, int]],
    results: list[tuple[int, float, int, int, float]],
    room: int,
) -> int:
    """Write what is gathered (at most ``room`` events) and empty the lists; returns the events written."""
    db = store._db
    await db.execute("BEGIN")
    await db.executemany("INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)", rows[:room])
    await db.executemany(
        "INSERT INTO forum_posts (id, ts, author, title, body) VALUES (?, ?, ?, ?, ?)", posts
    )  # the FTS triggers index them
    await db.executemany(
        "INSERT INTO submissions (id, ts, agent, kind, payload, status) VALUES (?, ?, ?, 'predictions', '{}', 'scored')",
        subs,
    )
    await db.executemany(
        "INSERT INTO eval_jobs (id, ts, kind, submission_id, spec, status, updated_ts)"
        " VALUES (?, ?, 'predictions', ?, '{}', 'done', ?)",
        [(j, ts, s, ts) for j, ts, s in jobs],
    )
    await db.executemany(
        "INSERT INTO eval_results (id, ts, job_id, submission_id, split, pgr, ci_low, ci_high, metrics)"
        " VALUES (?, ?, ?, ?, 'feedback', ?, ?, ?, '{}')",
        [(r, ts, j, s, p, p, p) for r, ts, j, s, p in results],
    )
    await db.execute("COMMIT")
    written = min(len(rows), room)
    for gathered in (rows, posts, subs, jobs, results):
        gathered.clear()
    return written


def _p(times: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank, in milliseconds."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))] * 1000


async def attach_and_jump(root: Path, jumps: int) -> None:
    attach = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        client = await RunClient.open(root)
        await client.backlog()
        attach.append(time.perf_counter() - start)
        await client.store.close()  # not ``close``: that records a detach
    client = await RunClient.open(root)
    first, last = (await client.store.latest_events(1, upto_id=1))[0].ts, (await client.store.latest_events(1))[0].ts
    rng = random.Random(24)
    took, ids = [], []
    for _ in range(jumps):
        offset = rng.uniform(0, last - first)
        start = time.perf_counter()
        event_id = await client.resolve_at(f"{int(offset)}s")
        update = await client.moment(event_id)
        took.append(time.perf_counter() - start)
        ids.append(event_id)
        assert update.events and update.events[-1].id == event_id
    print(f"live attach (open + backlog), {ROUNDS} rounds: p50 {_p(attach, 0.5):.0f} ms, p99 {_p(attach, 0.99):.0f} ms")
    print(
        f"replay jump (resolve a time + moment), {jumps} random moments: p50 {_p(took, 0.5):.0f} ms, "
        f"p99 {_p(took, 0.99):.0f} ms (target <= 300 ms); jump / attach: p99 {_p(took, 0.99) / _p(attach, 0.99):.2f},"
        f" p50 {_p(took, 0.5) / _p(attach, 0.5):.2f} (target <= 3)"
    )
    await client.store._db.execute("DELETE FROM checkpoints")  # type: ignore[attr-defined]
    cold = []
    for event_id in ids[:5]:
        start = time.perf_counter()
        await client.moment(event_id)
        cold.append(time.perf_counter() - start)
    print(
        f"  without checkpoints (deleted; folded from the first event): {len(cold)} jumps, "
        f"p50 {_p(cold, 0.5):.0f} ms, max {_p(cold, 1.0):.0f} ms"
    )
    await client.store.close()


async def _write_steps(store: RunStore, rng: random.Random, first: int, steps: int) -> None:
    """Write ``steps`` steps (round robin over the agents) as the agent loop does: the step's events emitted,
    then its messages and counters committed with them (``append_step``)."""
    for n in range(first, first + steps):
        agent = AGENTS[n % len(AGENTS)]
        step = n // len(AGENTS) + 1
        for payload in _step(rng, step):
            store.emit(agent, payload)
        await store.append_step(
            agent,
            step,
            [
                ("assistant", [{"type": "text", "text": "thinking about the weak labels " * 3}]),
                ("user", [{"type": "tool_result", "tool_use_id": f"c{step}", "content": "epoch 1 loss 0.41"}]),
            ],
            steps=1,
        )
    await store.flush()


async def _emit_steps(store: RunStore, rng: random.Random, first: int, steps: int) -> None:
    """The same steps' events alone, through ``emit`` and a ``flush`` every 2,000: the store's fastest path."""
    emitted = 0
    for n in range(first, first + steps):
        for payload in _step(rng, n // len(AGENTS) + 1):
            store.emit(AGENTS[n % len(AGENTS)], payload)
            emitted += 1
            if emitted % 2000 == 0:
                await store.flush()
    await store.flush()


async def write_cost(events: int, write: Callable[[RunStore, random.Random, int, int], Awaitable[None]]) -> None:
    """Write time of the same steps with the checkpoint task beside / without, alternating chunks."""
    steps = events // len(_step(random.Random(0), 1))
    took = {"with": 0.0, "without": 0.0, "whole": 0.0}
    ratios = []
    with tempfile.TemporaryDirectory(prefix="aar-bench-ckpt-") as tmp:
        stores = {name: await RunStore.open(Path(tmp) / f"{name}.db", create=True) for name in ("with", "without")}
        for store in stores.values():
            for agent in AGENTS:
                await store.register_agent(agent, backend="scripted", model="scripted")
        for n, first in enumerate(range(0, steps, CHUNK_STEPS)):
            count = min(CHUNK_STEPS, steps - first)
            spent = {}
            for name in ["with", "without"] if n % 2 == 0 else ["without", "with"]:
                store = stores[name]
                stop = asyncio.Event()
                follower = asyncio.create_task(checkpoint.follow(store, stop)) if name == "with" else None
                start = time.perf_counter()
                await write(store, random.Random(first), first, count)
                spent[name] = time.perf_counter() - start
                if follower is not None:
                    stop.set()
                    await follower  # its last catch-up: every checkpoint due written
                    took["whole"] += time.perf_counter() - start
                took[name] += spent[name]
            ratios.append(spent["with"] / spent["without"])
        written = await stores["with"].last_event_id()
        made = len(await stores["with"].checkpoints(upto_id=written, limit=10**6))
        for store in stores.values():
            await store.close()
    print(
        f"  {written:,} events per store: with the checkpoint task beside {took['with']:.1f}s, without "
        f"{took['without']:.1f}s: ratio {took['with'] / took['without']:.3f} overall, median per chunk "
        f"{statistics.median(ratios):.3f}; writes and all {made} checkpoints due: {took['whole']:.1f}s, "
        f"ratio {took['whole'] / took['without']:.3f} (target <= 1.05)"
    )


async def _replay_only(root: Path, jumps: int) -> None:
    """The RSS probe's work: open the run, jump, fold each moment into the TUI's model."""
    client = await RunClient.open(root)
    last = await client.store.last_event_id()
    rng = random.Random(5)
    for _ in range(jumps):
        update = await client.moment(rng.randrange(1, last + 1))
        model = RunModel(client.info.run_id)
        model.apply(update)
    await client.store.close()


async def _replay_in_tui(root: Path, jumps: int) -> None:
    """The TUI probe's work: the control room opened on a moment a third into the run, then ``jumps`` steps
    (alternately a minute on and an event on), each waited for until its moment is on the screen."""
    from tui.app import AarApp

    async with await RunStore.open(root / "run.db") as store:
        start = (await store.last_event_id()) // 3
    app = AarApp(root, at_event=start)
    async with app.run_test(size=(160, 48)) as pilot:
        seen = 0
        for step in range(jumps + 1):
            if step:
                await pilot.press("right_square_bracket" if step % 2 else "full_stop")
            for _ in range(400):
                await pilot.pause(0.01)
                mark = app.model.replay
                if mark is not None and mark.event_id != seen:
                    seen = mark.event_id
                    break
            else:
                raise RuntimeError(f"step {step}: the replay did not move from event {seen}")


def rss_probe(root: Path, jumps: int) -> None:
    for mode, what in (("--rss", "each folded into the TUI's model"), ("--rss-tui", "the control room, each drawn")):
        out = subprocess.run(
            [sys.executable, __file__, mode, str(root), str(jumps)], capture_output=True, text=True, check=True
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"peak RSS of a process that replays ({jumps} jumps, {what}): {figures['after']:.0f} MB; "
            f"{figures['before']:.0f} MB before the first jump (target for the TUI < 200 MB)"
        )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(events: int, jumps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aar-bench-replay-") as tmp:
        root = Path(tmp) / "run"
        start = time.perf_counter()
        await build_store(root, events)
        print(f"built a run of {events:,} events from {len(AGENTS)} agents in {time.perf_counter() - start:.0f}s")
        async with await RunStore.open(root / "run.db") as store:
            start = time.perf_counter()
            made = await checkpoint.catch_up(store)
            print(
                f"checkpoints for the whole run (a resumed daemon catching up): {made} in "
                f"{time.perf_counter() - start:.1f}s"
            )
        rss_probe(root, jumps)
        await attach_and_jump(root, jumps)
    print("checkpoints' cost to the store's writes, steps written as the agent loop writes them:")
    await write_cost(min(events, WRITE_EVENTS), _write_steps)
    print("the same events alone through emit + flush (the store's fastest path, so the harshest ratio):")
    await write_cost(min(events, WRITE_EVENTS), _emit_steps)


if __name__ == "__main__":
    if sys.argv[1:2] in (["--rss"], ["--rss-tui"]):
        before = _rss_mb()
        probe = _replay_only if sys.argv[1] == "--rss" else _replay_in_tui
        asyncio.run(probe(Path(sys.argv[2]), int(sys.argv[3])))
        print(json.dumps({"before": before, "after": _rss_mb()}))
    else:
        args = [int(a) for a in sys.argv[1:3]]
        events, jumps = (args + [1_000_000, 50][len(args) :])[:2]
        asyncio.run(main(events, jumps))
