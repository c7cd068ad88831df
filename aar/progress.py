"""Progress: the best verified PGR over agent-hours and over dollars, for the team and for each agent.

The study behind this tool reports its headline as this curve. Everything here is read from the store: the
evaluator's result rows (``leaderboard``), the agents' spans of events, the spend events, the run's restarts
and the evaluator's own baselines. The TUI's chart (``C``) and ``aar report`` (json, md, html) draw it.

What each number means:

- **A point** is one evaluator result on the home task (a verified method's ``seeds`` score or a prediction
  file's ``feedback`` score; never ``final`` nor a transfer target's). It sits where the evaluator scored
  it (its result's time): the best at ``h`` agent-hours is the best the supervisor could have known then.
- **Agent-hours** and **dollars** at a time ``t``: what the team (or the agent, in its own series) had spent by
  then, alive and in model calls (``aar.effort``: from each agent's start to its last step, less the run's
  downtime; the spend events up to ``t``). A paused agent is alive.
- **Best verified PGR**: the running maximum over verified methods (``kind == "method"``, scored over seeds)
  that count. A prediction file is drawn as a point of its own glyph but is never "verified": the evaluator
  did not run anything, it scored a list of labels. A verified method does not count while it carries a flag
  that says its score is not to be trusted as it is (``NOT_COUNTED``: a probe, a duplicate, a majority-label
  answer, outputs that ignore the labels or do not move with the seed, outputs beyond the weak supervision,
  a CI at the ceiling that waits for review), or when the supervisor rejected it; a supervisor's ``accept``
  makes it count whatever its flags. Such a point is drawn (a cross) with ``why_not`` saying why.
  ``unisolated`` (every score of a run without isolation) and relations (``copy of #N``) do not stop a count.
  Submissions rejected before scoring have no PGR and are no points.

Fast on a long run: agents' starts are one indexed read per agent, restarts are the few ``run.state`` events,
spend is the spend events' three columns read in SQL on the (kind, id) index (``SpendLedger``, which a caller
keeps to read only what is new), and results are the leaderboard's rows: no pass over every event. Measured
by ``bench/progress.py``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from aar.effort import SpendLedger, alive
from aar.errors import AarError
from aar.store.protocols import StoreReader
from aar.store.rows import TRANSFER_SPLIT, LeaderboardRow, ReferenceRow

SCHEMA_VERSION = 1
VERIFIED_SPLIT = "seeds"
"""The split of a verified method's score: the evaluator re-ran it over fixed seeds."""
NOT_COUNTED = frozenset(
    {
        "probe",
        "duplicate",
        "majority",
        "malformed",
        "over_budget",
        "rate_limited",
        "ignores_labels",
        "seed_invariant",
        "beyond_weak",
        "review",
    }
)
"""Flags under which a verified method's PGR is drawn but not counted into the best (a supervisor's
``accept`` counts it all the same)."""

Axis = Literal["hours", "usd"]


class Reference(BaseModel):
    """A horizontal line to measure the curve against."""

    label: str
    pgr: float
    source: Literal["weak", "evaluator", "supervisor"]
    """``weak``: the weak model alone (PGR 0); ``evaluator``: a baseline the evaluator scored itself (vanilla,
    unsupervised); ``supervisor``: a value set in ``[report] reference_pgr`` or ``aar report --reference``."""


class ProgressPoint(BaseModel):
    """One evaluator result on the home task, placed in time, agent-hours and dollars."""

    result_id: int
    submission_id: int
    agent: str
    kind: str
    """``method`` or ``predictions``."""
    label: str
    """The submitted file's name (agent text: escape it wherever it is shown)."""
    split: str
    """``seeds`` (a verified method) or ``feedback`` (a prediction file)."""
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    flags: list[str]
    """The submission's and the result's flags."""
    verified: bool
    """A method the evaluator ran over seeds."""
    counted: bool
    """It counts into the best verified PGR."""
    why_not: str = ""
    """Why a verified method does not count (a flag, the supervisor's rejection); empty otherwise."""
    ts: float
    """When the evaluator scored it."""
    team_hours: float
    """The team's agent-hours at ``ts``."""
    team_usd: float
    agent_hours: float
    """Its author's own hours at ``ts``."""
    agent_usd: float


class BestStep(BaseModel):
    """Where a series' best verified PGR rose, and to what."""

    ts: float
    hours: float
    usd: float
    pgr: float
    submission_id: int
    agent: str


class Series(BaseModel):
    """The best verified PGR of the team, or of one agent (in its own hours and dollars), as steps."""

    name: str
    """``team`` or the agent's name."""
    steps: list[BestStep]
    """Each rise of the best, oldest first; the line holds each value until the next step, and the last to
    ``hours`` / ``usd``."""
    hours: float
    """Agent-hours at the end of the run (so far)."""
    usd: float
    best_pgr: float | None

    def x(self, axis: Axis) -> float:
        return self.hours if axis == "hours" else self.usd


class Progress(BaseModel):
    """The progress charts' data (``aar report --format json`` carries it as ``progress``)."""

    schema_version: int = SCHEMA_VERSION
    start_ts: float | None
    """The first agent's start; None before any."""
    end_ts: float | None
    """The newest event."""
    team: Series
    agents: list[Series]
    points: list[ProgressPoint]
    """Every result on the home task, in the order the evaluator wrote them."""
    references: list[Reference]
    not_counted_flags: list[str] = sorted(NOT_COUNTED)
    """The flags that keep a verified method out of the best (see ``aar.progress``)."""

    @property
    def empty(self) -> bool:
        """No scored submission yet."""
        return not any(p.pgr is not None for p in self.points)


def point_x(point: ProgressPoint, axis: Axis, *, own: bool) -> float:
    """Where ``point`` sits on ``axis``: in the team's numbers, or in its author's own (``own``)."""
    if axis == "hours":
        return point.agent_hours if own else point.team_hours
    return point.agent_usd if own else point.team_usd


def step_x(step: BestStep, axis: Axis) -> float:
    return step.hours if axis == "hours" else step.usd


# ------------------------------------------------------------ the series


def why_not_counted(row: LeaderboardRow, verdict: str | None) -> str:
    """Why a verified method's PGR stays out of the best; empty when it counts."""
    if verdict == "reject":
        return "rejected by the supervisor"
    if verdict == "accept":
        return ""
    bad = [f for f in row.flags if f.split(" ", 1)[0] in NOT_COUNTED]
    return f"flagged {', '.join(bad)}" if bad else ""


def home_results(rows: Iterable[LeaderboardRow]) -> list[LeaderboardRow]:
    """The leaderboard's results on the home task, in the order the evaluator wrote them."""
    return sorted((r for r in rows if r.split not in ("final", TRANSFER_SPLIT)), key=lambda r: r.result_id)


def best_steps(points: Iterable[ProgressPoint], *, own: bool) -> list[BestStep]:
    """The rises of the running maximum over the counted points, in their order."""
    steps: list[BestStep] = []
    for p in points:
        if not p.counted or p.pgr is None or (steps and p.pgr <= steps[-1].pgr):
            continue
        steps.append(
            BestStep(
                ts=p.ts,
                hours=p.agent_hours if own else p.team_hours,
                usd=p.agent_usd if own else p.team_usd,
                pgr=p.pgr,
                submission_id=p.submission_id,
                agent=p.agent,
            )
        )
    return steps


def references(baselines: Iterable[ReferenceRow], supervisor: Iterable[float]) -> list[Reference]:
    """The weak baseline (PGR 0), the evaluator's home baselines, then the supervisor's values."""
    out = [Reference(label="weak", pgr=0.0, source="weak")]
    for row in baselines:
        if row.pgr is not None and row.split not in ("final", TRANSFER_SPLIT):
            out.append(Reference(label=row.baseline, pgr=row.pgr, source="evaluator"))
    out += [Reference(label="reference", pgr=v, source="supervisor") for v in dict.fromkeys(supervisor)]
    return out


async def load_progress(
    store: StoreReader, *, supervisor: Sequence[float] = (), ledger: SpendLedger | None = None
) -> Progress:
    """The run's progress series; ``supervisor``: the reference PGRs to draw; ``ledger``: one kept from a
    previous call (only newer spend is read)."""
    ledger = ledger if ledger is not None else SpendLedger()
    await ledger.catch_up(store)
    life = await alive(store, ledger)
    verdicts = {sid: v.verdict for sid, v in (await store.verdicts()).items()}
    newest = await store.latest_events(1)
    end = newest[-1].ts if newest else None
    points = []
    for row in home_results(await store.leaderboard()):
        verified = row.kind == "method" and row.split == VERIFIED_SPLIT
        why = why_not_counted(row, verdicts.get(row.submission_id)) if verified else ""
        if verified and row.pgr is None:
            why = "no PGR (the ceiling is not above the weak model)"
        points.append(
            ProgressPoint(
                result_id=row.result_id,
                submission_id=row.submission_id,
                agent=row.agent,
                kind=row.kind,
                label=row.label,
                split=row.split,
                pgr=row.pgr,
                ci_low=row.ci_low,
                ci_high=row.ci_high,
                flags=row.flags,
                verified=verified,
                counted=verified and not why,
                why_not=why,
                ts=row.ts,
                team_hours=life.hours(row.ts),
                team_usd=ledger.at(row.ts),
                agent_hours=life.hours(row.ts, row.agent),
                agent_usd=ledger.at(row.ts, row.agent),
            )
        )
    last = max([0.0 if end is None else end, *(p.ts for p in points)])  # where the lines end

    def series(name: str, agent: str | None) -> Series:
        mine = [p for p in points if agent is None or p.agent == agent]
        steps = best_steps(mine, own=agent is not None)
        return Series(
            name=name,
            steps=steps,
            hours=life.hours(last, agent),
            usd=ledger.at(last, agent),
            best_pgr=steps[-1].pgr if steps else None,
        )

    names = list(dict.fromkeys([*life.spans, *(p.agent for p in points)]))
    return Progress(
        start_ts=min((s.start for s in life.spans.values()), default=None),
        end_ts=end,
        team=series("team", None),
        agents=[series(name, name) for name in names],
        points=points,
        references=references(await store.references(), supervisor),
    )


@dataclass
class ProgressFeed:
    """Progress read again and again (a screen that stays open): the spend ledger is kept, so each read costs
    only the spend written since; the config's reference lines are read once."""

    config_path: Path
    ledger: SpendLedger = field(default_factory=SpendLedger)
    supervisor: list[float] | None = None

    async def read(self, store: StoreReader) -> Progress:
        if self.supervisor is None:
            self.supervisor = await asyncio.to_thread(supervisor_references, self.config_path)
        return await load_progress(store, supervisor=self.supervisor, ledger=self.ledger)


def supervisor_references(config_path: Path) -> list[float]:
    """``[report] reference_pgr`` of the run's config; none where the config cannot be read (a report of a
    copied ``run.db`` still draws the run's own lines)."""
    from aar.config import load_config

    try:
        return list(load_config(config_path).report.reference_pgr)
    except (AarError, OSError):
        return []


# ------------------------------------------------------------ axes, for every renderer


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """At most ``most`` round values (1, 2 or 5 times a power of ten apart) from ``low`` to ``high``."""
    if not high > low or most < 2:
        return [low]
    raw = (high - low) / (most - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    out = []
    i = first
    while i * step <= high + step * 1e-9:
        out.append(round(i * step, 10))
        i += 1
    return out


def axis_text(value: float, axis: Axis) -> str:
    """A tick's label: ``12h``, ``1.5h``, ``$250``, ``$1.2k``."""
    if axis == "hours":
        if value >= 1000:
            return f"{value / 1000:g}kh"
        return f"{value:.3g}h" if value else "0"
    if value >= 1000:
        return f"${value / 1000:.3g}k"
    return f"${value:.3g}" if value else "$0"


AXIS_NAMES: dict[Axis, str] = {"hours": "agent-hours", "usd": "dollars"}


def pgr_range(progress: Progress, *, floor: float = -1.0, ceiling: float = 2.0) -> tuple[float, float]:
    """The PGR axis: from 0 (or the lowest point or line, not below ``floor``) to 1 (or the highest, not above
    ``ceiling``); a point beyond is drawn at the edge, so one wild score does not flatten the rest."""
    values = [p.pgr for p in progress.points if p.pgr is not None] + [r.pgr for r in progress.references]
    return max(floor, min([0.0, *values])), min(ceiling, max([1.0, *values]))
