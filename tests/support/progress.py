"""A real run folder with known times and costs, for the progress charts (``aar.progress``) and the reports.

Two agents over two hours: agent-1 alive from T0 to its last step at T0+2h, agent-2 from T0+30min to its
last step at T0+90min; steps and a compaction that cost $7.50 in all; a prediction file, six verified
methods (one flagged ``probe``, one flagged ``review`` but accepted, one rejected by the supervisor), a
transfer and a ``final`` score that are no points, and the evaluator's vanilla baseline. Every event's time
and every result's time is pinned, so agent-hours and dollars at each point are known by hand (``EXPECTED``).
Labels are hostile: markup, an ANSI escape and HTML.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    AgentUsage,
    EvalScored,
    EventPayload,
    RunStateChanged,
    SubmissionCreated,
    Verdict,
)
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, RunStore
from tests.support.clock import FIXED_START, FakeClock

T0 = FIXED_START
H = 3600.0
CONFIG = """\
[run]
name = "prog"

[evaluator]
device = "cpu"

[report]
reference_pgr = [0.23]
"""
HOSTILE_LABEL = "[bold]m\x1b[31m<script>alert(1)</script>.py"
"""A file name that is markup, an ANSI colour and HTML at once."""


@dataclass(frozen=True)
class Expected:
    """A point's numbers, worked out by hand from the pinned times and costs."""

    label: str
    agent: str
    kind: str
    pgr: float
    counted: bool
    team_hours: float
    team_usd: float
    agent_hours: float
    agent_usd: float


EXPECTED = [
    # agent-1 from T0; agent-2 from T0+0.5h; spend: a1 $1 at 10min, $2 at 1h, $0.50 at 1.5h, $0 at 2h;
    # a2 $4 at 1h, $0 at 1.5h.
    Expected("preds.json", "agent-1", "predictions", 0.30, False, 20 / 60, 1.0, 20 / 60, 1.0),
    Expected("a.py", "agent-1", "method", 0.25, True, 40 / 60 + 10 / 60, 1.0, 40 / 60, 1.0),
    Expected("b.py", "agent-2", "method", 0.40, True, 1.0 + 0.5, 7.0, 0.5, 4.0),
    Expected("probe.py", "agent-2", "method", 0.90, False, 70 / 60 + 40 / 60, 7.0, 40 / 60, 4.0),
    Expected("c.py", "agent-1", "method", 0.35, True, 80 / 60 + 50 / 60, 7.0, 80 / 60, 3.0),
    Expected("d.py", "agent-2", "method", 0.60, False, 83 / 60 + 53 / 60, 7.0, 53 / 60, 4.0),
    Expected(HOSTILE_LABEL, "agent-1", "method", 0.55, True, 100 / 60 + 1.0, 7.5, 100 / 60, 3.5),
]
"""Each point in the order the evaluator scored it; ``d.py`` is rejected by the supervisor, the hostile one is
flagged ``review`` but accepted, ``probe.py`` is flagged ``probe``."""
TEAM_END = (2.0 + 1.0, 7.5)
"""The team's agent-hours and dollars at the end of the run."""


@dataclass
class Pinned:
    """Events written now and given their times afterwards (``emit`` stamps the wall clock)."""

    times: dict[int, float] = field(default_factory=dict)

    async def event(self, store: RunStore, at: float, agent: str | None, payload: EventPayload) -> None:
        self.times[await store.append(agent, payload)] = at

    def pin(self, db: Path, started: dict[str, float]) -> None:
        with sqlite3.connect(db) as conn:
            conn.executemany("UPDATE events SET ts = ? WHERE id = ?", [(t, i) for i, t in self.times.items()])
            conn.executemany("UPDATE agents SET started_ts = ? WHERE name = ?", [(t, a) for a, t in started.items()])


async def _scored(
    store: RunStore,
    clock: FakeClock,
    pinned: Pinned,
    at: float,
    agent: str,
    kind: Literal["method", "predictions"],
    label: str,
    pgr: float,
    flags: list[str],
) -> int:
    """A submission scored at ``at``, with the events the daemon writes for it (submitted and scored)."""
    clock.now = at
    sub = await store.add_submission(agent, kind, {"filename": label}, label=label)
    await pinned.event(store, at - 60, agent, SubmissionCreated(submission_id=sub, submission_kind=kind))
    job = await store.enqueue_job(kind, {}, submission_id=sub, status="done")
    split = "seeds" if kind == "method" else "feedback"
    low, high = pgr - 0.05, pgr + 0.05
    await store.add_result(
        job, submission_id=sub, split=split, pgr=pgr, ci_low=low, ci_high=high, metrics={}, flags=flags
    )
    await store.update_submission(sub, status="scored")
    scored = EvalScored(job_id=job, submission_id=sub, pgr=pgr, ci_low=low, ci_high=high, flags=flags)
    await pinned.event(store, at, agent, scored)
    return sub


async def progress_run(root: Path, *, scored: bool = True) -> RunPaths:
    """The run at ``root``; without ``scored``, the same agents and spend but no result yet."""
    paths = RunPaths(root)
    paths.make()
    paths.config.write_text(CONFIG)
    clock = FakeClock(T0)
    pinned = Pinned()
    async with await RunStore.open(paths.db, create=True, clock=clock) as store:
        await store.set_meta("run_id", "prog-20260101-000000")
        await store.set_meta("state", "finished")
        for name, spent in (("agent-1", 3.5), ("agent-2", 4.0)):  # the counters are the events' sums
            await store.register_agent(name, backend="scripted", model="scripted")
            await store.add_usage(name, cost_usd=spent)
        await pinned.event(store, T0, None, RunStateChanged(state="starting"))
        await pinned.event(store, T0, "agent-1", AgentStatusChanged(status="thinking"))
        await pinned.event(store, T0 + 10 * 60, "agent-1", AgentStepCompleted(step=1, cost_usd=1.0))
        await pinned.event(store, T0 + 0.5 * H, "agent-2", AgentStatusChanged(status="thinking"))
        await pinned.event(store, T0 + H, "agent-1", AgentStepCompleted(step=2, cost_usd=2.0))
        await pinned.event(store, T0 + H, "agent-2", AgentStepCompleted(step=1, cost_usd=4.0))
        await pinned.event(store, T0 + 1.5 * H, "agent-1", AgentUsage(purpose="compaction", cost_usd=0.5))
        await pinned.event(store, T0 + 1.5 * H, "agent-2", AgentStepCompleted(step=2, cost_usd=0.0))
        await pinned.event(store, T0 + 2 * H, "agent-1", AgentStepCompleted(step=3, cost_usd=0.0))
        if scored:
            await _results(store, clock, pinned)
        await pinned.event(store, T0 + 2 * H, None, RunStateChanged(state="finished"))
    pinned.pin(paths.db, {"agent-1": T0, "agent-2": T0 + 0.5 * H})
    return paths


async def _results(store: RunStore, clock: FakeClock, pinned: Pinned) -> None:
    minutes = [20, 40, 60, 70, 80, 83, 100]
    ids = []
    for at, e in zip(minutes, EXPECTED, strict=True):
        flags = {"probe.py": ["probe"], HOSTILE_LABEL: ["review"]}.get(e.label, [])
        kind: Literal["method", "predictions"] = "method" if e.kind == "method" else "predictions"
        ids.append(await _scored(store, clock, pinned, T0 + at * 60, e.agent, kind, e.label, e.pgr, flags))
    by_label = dict(zip((e.label for e in EXPECTED), ids, strict=True))
    verdicts: list[tuple[str, Verdict]] = [("d.py", "reject"), (HOSTILE_LABEL, "accept")]
    for label, verdict in verdicts:
        row = await store.record_verdict(by_label[label], verdict, "", by="supervisor")
        pinned.times[row.event_id] = T0 + 110 * 60
    clock.now = T0 + 105 * 60
    job = await store.enqueue_job("transfer", {}, submission_id=by_label["b.py"], status="done")
    await store.add_result(
        job, submission_id=by_label["b.py"], split=TRANSFER_SPLIT, pgr=0.99, ci_low=0.9, ci_high=1.0, metrics={}
    )
    await store.add_result(
        job, submission_id=by_label["b.py"], split="final", pgr=0.98, ci_low=0.9, ci_high=1.0, metrics={}
    )
    base = await store.enqueue_job("baselines", {}, status="done")
    await store.add_result(
        base, submission_id=None, split="feedback", pgr=0.2, ci_low=0.15, ci_high=0.25, metrics={"baseline": "vanilla"}
    )
