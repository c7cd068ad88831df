"""Digest benchmark: how long ``aar digest`` takes to build on a long run.

A synthetic run of nine agents with EVENTS events over eight hours (streamed text, tool calls and results,
sandbox output, statuses, steps with their cost, now and then a monitor decision, an error, a sandbox
restart), 600 scored submissions and an inbox, written straight into a real store. The digest is built for
the last hour and for the whole eight hours, ROUNDS times each: p50 and p99, target p99 < 500 ms.

Then what the digest's index of events by kind costs the store's writes: the same events emitted and flushed
through a store with the index and through one without, in turns (the machines are shared and noisy). The cost
ledger (``aar.store.cost_ledger``) is written with each step's transcript, not on the event path.

Usage: python bench/digest.py [EVENTS] [ROUNDS] (default 1,000,000 and 20)
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar import digest  # noqa: E402
from aar.events import (  # noqa: E402
    AgentStatusChanged,
    AgentStepCompleted,
    ErrorRaised,
    EventPayload,
    ModelText,
    MonitorDecided,
    SandboxLifecycle,
    SandboxOutput,
    ToolCalled,
    ToolReturned,
)
from aar.inbox import catch_up  # noqa: E402
from aar.store import RunStore  # noqa: E402

AGENTS = [f"agent-{i}" for i in range(1, 10)]
HOURS = 8.0


def _step(rng: random.Random, step: int) -> list[EventPayload]:
    """The events of one step, about a dozen."""
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
    roll = rng.random()
    if roll < 0.01:
        out.append(MonitorDecided(monitor="builtin", rule="loops", action="flag", reason="the same call again"))
    elif roll < 0.015:
        out.append(ErrorRaised(message="the sandbox failed to start", where="sandbox"))
    elif roll < 0.02:
        out.append(SandboxLifecycle(action="restarted", backend="local"))
    return out


async def build_store(path: Path, events: int) -> float:
    """The synthetic run; returns its end time."""
    rng = random.Random(7)
    store = await RunStore.open(path, create=True)
    for agent in AGENTS:
        await store.register_agent(agent, backend="scripted", model="scripted")
    end = time.time()
    start = end - HOURS * 3600
    rows: list[tuple[float, str | None, str, str]] = []
    step = 0
    while len(rows) < events:
        step += 1
        agent = AGENTS[step % len(AGENTS)]
        ts = start + (end - start) * len(rows) / events
        rows += [(ts, agent, p.kind, p.model_dump_json()) for p in _step(rng, step)]
    # Straight into the table: its triggers keep the cost ledger as the store's own writes do.
    await store._db.executemany("INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)", rows[:events])
    for n in range(600):
        sid = await store.add_submission(AGENTS[n % 9], "predictions", {}, flags=("probe",) if n % 50 == 0 else ())
        job = await store.enqueue_job("predictions", {}, submission_id=sid, status="done")
        pgr = rng.random()
        await store.add_result(job, submission_id=sid, split="feedback", pgr=pgr, ci_low=pgr, ci_high=pgr, metrics={})
    await store._db.execute("UPDATE submissions SET ts = ? + id * ?", (start, HOURS * 3600 / 600))
    await store._db.execute("UPDATE eval_results SET ts = (SELECT ts FROM submissions s WHERE s.id = submission_id)")
    await store._db.execute(  # as the agent loop keeps it: each agent's spend is the sum of its steps'
        "UPDATE agents SET cost_usd = (SELECT COALESCE(SUM(json_extract(payload, '$.cost_usd')), 0) FROM events e"
        " WHERE e.kind = 'agent.step' AND e.agent = agents.name)"
    )
    await catch_up(store)
    await store.close()
    return end


async def main(events: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aar-bench-digest-") as tmp:
        db = Path(tmp) / "run.db"
        t = time.perf_counter()
        end = await build_store(db, events)
        print(f"built a run of {events:,} events over {HOURS:g} hours in {time.perf_counter() - t:.0f}s")
        async with await RunStore.open(db) as store:
            for label, since in (("the last hour", end - 3600), ("all eight hours", end - HOURS * 3600)):
                took = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    found = await digest.build(store, "bench", since, now=end)
                    took.append(time.perf_counter() - start)
                took.sort()
                p50, p99 = took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))]
                print(
                    f"digest of {label}: {len(found.team.submissions)} submissions, "
                    f"{len(found.team.monitor_actions)} monitor actions, ${found.team.spend_usd:.2f}; "
                    f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (target p99 < 500 ms)"
                )


DROP_LEDGER = "".join(f"DROP TRIGGER events_cost_{k};" for k in ("tool_call", "agent_step", "agent_usage"))
WITHOUT = {
    "the (kind, id) index": "DROP INDEX events_kind",
    "the agents' status index": "DROP INDEX events_status",
    "the cost ledger": DROP_LEDGER,
}
"""What the digest adds to the store's writes, each taken away in a store of its own."""


async def write_cost(events: int, rounds: int = 4) -> None:
    """The write time of ``events`` events through ``emit`` and ``flush``: with everything, and without each
    of ``WITHOUT``, in turns."""
    rng = random.Random(3)
    payloads: list[EventPayload] = []
    step = 0
    while len(payloads) < events:
        step += 1
        payloads += _step(rng, step)
    took = {name: 0.0 for name in ("all", *WITHOUT)}
    with tempfile.TemporaryDirectory(prefix="aar-bench-kind-") as tmp:
        stores = {name: await RunStore.open(Path(tmp) / f"{n}.db", create=True) for n, name in enumerate(took)}
        for name, drop in WITHOUT.items():
            await stores[name]._db.executescript(drop)
        share = len(payloads) // rounds
        for r in range(rounds):
            order = list(took) if r % 2 == 0 else list(reversed(took))
            for name in order:
                start = time.perf_counter()
                for p in payloads[r * share : (r + 1) * share]:
                    stores[name].emit(AGENTS[r % 9], p)
                await stores[name].flush()
                took[name] += time.perf_counter() - start
        for store in stores.values():
            await store.close()
    for name in WITHOUT:
        print(
            f"event writes with {name} {took['all']:.1f}s, without {took[name]:.1f}s: "
            f"ratio {took['all'] / took[name]:.3f}"
        )


async def ledger_cost(steps: int = 3000, rounds: int = 6) -> None:
    """What the cost ledger adds to committing an agent's step (its events, transcript and counters in one
    transaction, as the agent loop commits it): a store that keeps it, and one whose ledger triggers are
    dropped, in turns."""
    rng = random.Random(5)
    took = {"with": 0.0, "without": 0.0}
    with tempfile.TemporaryDirectory(prefix="aar-bench-ledger-") as tmp:
        stores = {name: await RunStore.open(Path(tmp) / f"{name}.db", create=True) for name in took}
        await stores["without"]._db.executescript(DROP_LEDGER)
        for store in stores.values():
            for agent in AGENTS:
                await store.register_agent(agent, backend="scripted", model="scripted")
        share = steps // rounds
        for r in range(rounds):
            for name in ["with", "without"] if r % 2 == 0 else ["without", "with"]:
                store = stores[name]
                start = time.perf_counter()
                for n in range(r * share, (r + 1) * share):
                    agent, step = AGENTS[n % 9], n // 9 + 1
                    for p in _step(rng, step):
                        store.emit(agent, p)
                    use = {"type": "tool_use", "id": f"c{n}", "name": "bash", "input": {"command": "python t.py"}}
                    content = [{"type": "text", "text": "thinking about the weak labels " * 20}, use]
                    result = [{"type": "tool_result", "tool_use_id": f"c{n}", "content": "epoch 1 loss 0.41\n" * 20}]
                    await store.append_step(
                        agent, step, [("assistant", content), ("user", result)], steps=1, cost_usd=0.01
                    )
                took[name] += time.perf_counter() - start
        for store in stores.values():
            await store.close()
    print(
        f"step commits with the cost ledger {took['with']:.1f}s, without {took['without']:.1f}s: "
        f"ratio {took['with'] / took['without']:.3f}"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    events, rounds = (args + [1_000_000, 20][len(args) :])[:2]
    asyncio.run(main(events, rounds))
    asyncio.run(write_cost(min(events, 400_000)))
    asyncio.run(ledger_cost())
