"""Search benchmark: what keeping the full-text index costs the store's writes, and how fast a query answers.

A synthetic run of nine agents is written through the store's real write path (events emitted, then the
step committed with them by ``append_step``, as the agent loop does), about EVENTS_PER_STEP events a step:
streamed text, a tool call, sandbox output, its result, statuses. The same steps go to two stores side by
side, one with the index's triggers and one without, alternating in chunks (the machines are shared and
noisy, so only ratios taken in one run mean anything): the write-time ratio, target <= 1.1.

Then queries on the store with the index, once it holds every event: common and rare words, a phrase, an
agent filter, a kind filter. p50 and p99 of each answer's time, target p99 < 200 ms.

Usage: python bench/search.py [EVENTS] (default 1,000,000)
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar import search  # noqa: E402
from aar.events import (  # noqa: E402
    AgentStatusChanged,
    AgentStepCompleted,
    ModelText,
    SandboxOutput,
    ToolCalled,
    ToolReturned,
)
from aar.store import RunStore  # noqa: E402

AGENTS = [f"agent-{i}" for i in range(1, 10)]
EVENTS_PER_STEP = 13
CHUNK_STEPS = 200
"""Steps written to one store before the other takes its turn."""
WORDS = [
    "weak",
    "strong",
    "labels",
    "confidence",
    "loss",
    "epoch",
    "seed",
    "canary",
    "ceiling",
    "transfer",
    "vanilla",
    "bootstrap",
    "filtering",
    "threshold",
    "gradient",
    "warmup",
    "student",
    "teacher",
    "ensemble",
    "calibration",
    "entropy",
    "margin",
    "cluster",
    "relabel",
    "knn",
    "probe",
    "heldout",
    "split",
    "feedback",
    "final",
    "accuracy",
    "baseline",
    "method",
    "submit",
    "forum",
    "post",
    "claim",
    "result",
    "train",
    "eval",
]
QUERIES: list[tuple[str, str | None, str | None]] = [
    ("confidence", None, None),
    ("heldout", None, None),
    ('"aux weight"', None, None),
    ("canary NOT test", None, None),
    ("zyzzyva", None, None),
    ("threshold", "agent-3", None),
    ("epoch", None, "output"),
    ("relabel*", None, None),
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


async def _write_steps(store: RunStore, rng: random.Random, first: int, steps: int) -> float:
    """Write ``steps`` steps (round robin over the agents) as the agent loop does; the seconds it took."""
    start = time.perf_counter()
    for n in range(first, first + steps):
        agent = AGENTS[n % len(AGENTS)]
        step = n // len(AGENTS) + 1
        call = f"call-{n}"
        store.emit(agent, AgentStatusChanged(status="thinking"))
        thought = _text(rng, 60)
        for i in range(0, len(thought), len(thought) // 8 + 1):
            store.emit(agent, ModelText(step=step, text=thought[i : i + len(thought) // 8 + 1]))
        command = f"python train.py --method {rng.choice(WORDS)} --seed {n % 5}"
        store.emit(agent, ToolCalled(step=step, call_id=call, tool="bash", input={"command": command}))
        output = "\n".join(f"epoch {e} loss {rng.random():.3f} {_text(rng, 6)}" for e in range(8))
        store.emit(agent, SandboxOutput(call_id=call, stream="stdout", text=output))
        store.emit(agent, ToolReturned(step=step, call_id=call, tool="bash", ok=True, output=output))
        store.emit(agent, AgentStepCompleted(step=step, input_tokens=1000, output_tokens=100, cost_usd=0.01))
        await store.append_step(
            agent,
            step,
            [
                (
                    "assistant",
                    [
                        {"type": "text", "text": thought},
                        {"type": "tool_use", "id": call, "name": "bash", "input": {"command": command}},
                    ],
                ),
                ("user", [{"type": "tool_result", "tool_use_id": call, "content": output}]),
            ],
            steps=1,
        )
    await store.flush()
    return time.perf_counter() - start


async def main(events: int) -> None:
    steps = max(events // EVENTS_PER_STEP, CHUNK_STEPS)
    with tempfile.TemporaryDirectory(prefix="aar-bench-search-") as tmp:
        indexed = await RunStore.open(Path(tmp) / "indexed.db", create=True)
        plain = await RunStore.open(Path(tmp) / "plain.db", create=True)
        await plain._db.executescript("DROP TRIGGER forum_posts_search; DROP TABLE search_fts;")  # no index kept
        for store in (indexed, plain):
            for agent in AGENTS:
                await store.register_agent(agent, backend="scripted", model="scripted")
        took = {"indexed": 0.0, "plain": 0.0, "whole": 0.0}
        ratios, whole = [], []
        for first in range(0, steps, CHUNK_STEPS):
            n = min(CHUNK_STEPS, steps - first)
            seed = first
            order = [("indexed", indexed), ("plain", plain)]
            if (first // CHUNK_STEPS) % 2:
                order.reverse()
            chunk = {}
            for name, store in order:
                if store is indexed:  # the daemon's indexer folds beside the writes, as in a run
                    stop = asyncio.Event()
                    folding = asyncio.create_task(search.follow(store, stop))
                    start = time.perf_counter()
                    chunk[name] = await _write_steps(store, random.Random(seed), first, n)
                    stop.set()
                    await folding  # its last fold: every step of the chunk indexed
                    chunk["whole"] = time.perf_counter() - start
                else:
                    chunk[name] = await _write_steps(store, random.Random(seed), first, n)
            for name in took:
                took[name] += chunk[name]
            ratios.append(chunk["indexed"] / chunk["plain"])
            whole.append(chunk["whole"] / chunk["plain"])
        written = int(await indexed._scalar("SELECT MAX(id) FROM events"))
        rows = int(await indexed._scalar("SELECT COUNT(*) FROM search_fts"))
        print(f"wrote {written:,} events and {steps:,} steps per store ({rows:,} index rows)")
        print(
            f"write time, the indexer folding beside: {took['indexed']:.1f}s, without an index {took['plain']:.1f}s; "
            f"ratio {took['indexed'] / took['plain']:.3f} overall, median per chunk {statistics.median(ratios):.3f} "
            "(target <= 1.1)"
        )
        print(
            f"writes and every step indexed: {took['whole']:.1f}s; ratio {took['whole'] / took['plain']:.3f} overall, "
            f"median per chunk {statistics.median(whole):.3f} (the indexing's whole cost)"
        )
        times = []
        for _ in range(25):
            for query, who, what in QUERIES:
                start = time.perf_counter()
                await indexed.search(query, agent=who, kind=what, limit=50)
                times.append(time.perf_counter() - start)
        times.sort()
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
        print(f"search: {len(times)} queries, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (target p99 < 200 ms)")
        await indexed.close()
        await plain.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
