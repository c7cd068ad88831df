"""While you were away: what happened in a run since a moment, for the team and for each agent.

The digest answers the supervisor's first question after a night away: the new
best PGR, the submissions with their flags, what the monitors did, the
questions and approvals still waiting, pauses, errors and sandbox restarts, and
the spend. Every line names its evidence (a submission ``#N``, an event, an
inbox item, a step), so it can be opened. It reads the store as it is: the
leaderboard and submissions tables, the inbox, and the events since the moment
(found by their time, which grows with their id), so it costs one pass over the
events of the period, not of the run, and the cost ledger's rows of the period
for the spend by agent and tool (``aar.store.cost_ledger``).

``aar digest RUN [--since 8h] [--json]`` prints it; without ``--since`` it starts
at the supervisor's last detach (``SEEN_META``, written by the TUI on leaving).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from aar.costs import ToolCost, cost_by_tool
from aar.describe import describe
from aar.errors import AarError
from aar.escape import one_line
from aar.events import ErrorRaised, MonitorDecided
from aar.store.inbox_table import SEEN_META
from aar.store.protocols import StoreReader

DEFAULT_SINCE_S = 8 * 3600.0
NOTED = ("error", "monitor.decision")
"""The event kinds the digest lists one by one (the rest it counts or sums in SQL)."""
WAITING = ("approval", "ask")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


class Evidence(BaseModel):
    """One thing that happened, on one line (agent text escaped), and where it is recorded."""

    text: str
    event_id: int | None = None
    submission_id: int | None = None
    inbox_id: int | None = None
    ts: float


class AgentDigest(BaseModel):
    agent: str
    best_pgr: float | None = None
    """The best scored PGR now (any time)."""
    best_before: float | None = None
    """The best scored PGR at the moment the digest starts."""
    new_best_submission: int | None = None
    """The submission that holds ``best_pgr``, when it was scored in the period and beat ``best_before``."""
    submissions: list[Evidence] = Field(default_factory=list)
    flagged: int = 0
    monitor_actions: list[Evidence] = Field(default_factory=list)
    waiting: list[Evidence] = Field(default_factory=list)
    pauses: int = 0
    errors: list[Evidence] = Field(default_factory=list)
    sandbox_restarts: int = 0
    spend_usd: float = 0.0
    tools: list[ToolCost] = Field(default_factory=list)
    """The spend by tool in the period, dearest first (``aar.costs``)."""


class Digest(BaseModel):
    run_id: str
    since: float
    until: float
    team: AgentDigest
    """The whole team (``agent`` is ``team``), run-wide errors included."""
    agents: list[AgentDigest]
    run_errors: list[Evidence] = Field(default_factory=list)
    """Errors of the run itself (a task of the daemon), not of an agent."""


def parse_since(text: str, *, now: float) -> float:
    """``8h``, ``30m``, ``2d``, ``90s`` ago, or an ISO time (``2026-11-30T03:00``, local); one line if neither."""
    if m := AGO.match(text.strip()):
        return now - float(m.group(1)) * UNITS[m.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise AarError(
            f"--since {text!r}: give a duration ago (90s, 30m, 8h, 2d) or a time (2026-11-30T03:00)"
        ) from None


async def last_visit(store: StoreReader, *, now: float) -> float:
    """Where a digest starts by default: the supervisor's last detach, or ``DEFAULT_SINCE_S`` ago."""
    seen = await store.get_meta(SEEN_META)
    return float(seen) if seen else now - DEFAULT_SINCE_S


async def build(store: StoreReader, run_id: str, since: float, *, now: float | None = None) -> Digest:
    until = time.time() if now is None else now
    agents = [a.name for a in await store.agents()]
    by_agent = {name: AgentDigest(agent=name) for name in agents}
    team = AgentDigest(agent="team")

    run_errors: list[Evidence] = []

    def of(agent: str | None) -> list[AgentDigest]:
        return [team, *([by_agent[agent]] if agent in by_agent else [])]

    board = await store.leaderboard()
    for row in board:
        if row.pgr is None:
            continue
        for d in of(row.agent):
            if d.best_pgr is None or row.pgr > d.best_pgr:
                d.best_pgr = row.pgr
                d.new_best_submission = row.submission_id if row.ts >= since else None
            if row.ts < since and (d.best_before is None or row.pgr > d.best_before):
                d.best_before = row.pgr
    for d in (team, *by_agent.values()):
        if d.new_best_submission is not None and d.best_before is not None and d.best_pgr == d.best_before:
            d.new_best_submission = None  # scored in the period, but no better than before
    scores = {r.submission_id: r.pgr for r in board if r.pgr is not None}
    for sub in await store.submissions():
        if sub.ts < since:
            continue
        score = f" PGR {scores[sub.id]:.3f}" if sub.id in scores else ""
        flags = f" flagged {', '.join(sub.flags)}" if sub.flags else ""
        label = f" {one_line(sub.label, 80)}" if sub.label else ""
        line = Evidence(text=f"#{sub.id} {sub.kind}{label} {sub.status}{score}{flags}", submission_id=sub.id, ts=sub.ts)
        for d in of(sub.agent):
            d.submissions.append(line)
            d.flagged += bool(sub.flags)
    for item in await store.inbox(limit=100_000):
        if item.kind in WAITING:
            line = Evidence(text=f"{item.kind}: {item.summary}", inbox_id=item.id, ts=item.ts)
            for d in of(item.agent):
                d.waiting.append(line)
    after = await store.first_event_at(since) - 1
    costs = await cost_by_tool(store, since=since)
    spend: dict[str | None, float] = {}
    for cost in costs:
        spend[cost.agent] = spend.get(cost.agent, 0.0) + cost.cost_usd
    pauses = await store.tally_by_agent("agent.status", after, where=("status", ["paused"]))
    restarts = await store.tally_by_agent("sandbox.lifecycle", after, where=("action", ["restarted", "recreated"]))
    for agent in {*spend, *pauses, *restarts}:
        for d in of(agent):
            d.spend_usd += spend.get(agent, 0.0)
            d.pauses += int(pauses.get(agent, 0))
            d.sandbox_restarts += int(restarts.get(agent, 0))
    for cost in costs:
        if cost.agent in by_agent:
            by_agent[cost.agent].tools.append(cost)
    while rows := await store.events_after(after, kinds=list(NOTED), limit=20_000):
        after = rows[-1].id
        for event in rows:
            p, agent = event.payload, event.agent
            if not isinstance(p, MonitorDecided | ErrorRaised):
                continue
            line = Evidence(
                text=describe(event, "log").text,
                event_id=event.id,
                submission_id=getattr(p, "submission_id", None),
                ts=event.ts,
            )
            for d in of(agent):
                (d.monitor_actions if isinstance(p, MonitorDecided) else d.errors).append(line)
            if agent is None and isinstance(p, ErrorRaised):
                run_errors.append(line)
    return Digest(
        run_id=run_id, since=since, until=until, team=team, agents=list(by_agent.values()), run_errors=run_errors
    )


@dataclass(frozen=True)
class DigestLine:
    """One line of the digest, with the agent it is about and what it links to (None: a summary line)."""

    text: str
    agent: str | None = None
    evidence: Evidence | None = None


def digest_lines(digest: Digest) -> list[DigestLine]:
    """The digest line by line: its title, the team's line, then each agent's and its evidence."""
    when = datetime.fromtimestamp(digest.since).strftime("%m-%d %H:%M")
    hours = (digest.until - digest.since) / 3600
    lines = [DigestLine(f"{digest.run_id} since {when} ({hours:.1f}h)"), DigestLine(_summary(digest.team))]
    lines += [DigestLine(f"  error (event {e.event_id}): {e.text}", None, e) for e in digest.run_errors]
    for d in digest.agents:
        lines.append(DigestLine(_summary(d), d.agent))
        lines += _evidence(d)
    return lines


def render(digest: Digest) -> str:
    """The digest as text for a terminal: the team's line, then each agent's, then their evidence."""
    return "\n".join(line.text for line in digest_lines(digest))


def _summary(d: AgentDigest) -> str:
    if d.best_pgr is None:
        best = "no score yet"
    elif d.new_best_submission is not None:
        was = f"was {d.best_before:.3f}" if d.best_before is not None else "first score"
        best = f"new best PGR {d.best_pgr:.3f} (#{d.new_best_submission}; {was})"
    else:
        best = f"best PGR {d.best_pgr:.3f} (unchanged)"
    parts = [
        best,
        f"{len(d.submissions)} submissions" + (f" ({d.flagged} flagged)" if d.flagged else ""),
        f"{len(d.monitor_actions)} monitor actions",
        f"{len(d.waiting)} waiting",
        f"{d.pauses} pauses",
        f"{len(d.errors)} errors",
        f"{d.sandbox_restarts} sandbox restarts",
        f"${d.spend_usd:.2f}",
    ]
    return f"{d.agent}: " + " · ".join(parts)


def _evidence(d: AgentDigest) -> list[DigestLine]:
    """The lines behind an agent's summary, each naming where it is recorded."""
    out = [DigestLine(f"  waiting (inbox {e.inbox_id}): {e.text}", d.agent, e) for e in d.waiting]
    if d.tools:
        costs = ", ".join(f"{one_line(c.tool, 40)} ${c.cost_usd:.2f} ({c.calls} calls)" for c in d.tools[:4])
        out.append(DigestLine(f"  cost by tool: {costs}", d.agent))
    out += [DigestLine(f"  submission {e.text}", d.agent, e) for e in d.submissions]
    out += [DigestLine(f"  monitor (event {e.event_id}): {e.text}", d.agent, e) for e in d.monitor_actions]
    out += [DigestLine(f"  error (event {e.event_id}): {e.text}", d.agent, e) for e in d.errors]
    return out
