"""What the team has spent by any moment: agent-hours alive and model dollars (``aar.progress`` draws against
them).

- **Agent-hours** at ``t``: summed over agents, the wall time each was alive up to ``t``, from its first event
  (or its registration, if earlier) to its last step, less the time the run was down between a daemon's end
  and the next one's start (the longest silence in the events before each restart). Not to its last event:
  that may be the evaluator's score of its work or the supervisor's verdict on it, long after it stopped.
- **Dollars** at ``t``: the ``cost_usd`` of the ``agent.step`` and ``agent.usage`` events written up to ``t``
  (the agents' counters are their sums), read as three columns in SQL on the (kind, id) index; a
  ``SpendLedger`` kept between reads reads only the events written since.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

from aar.events import RunStateChanged
from aar.store.protocols import StoreReader

SPEND_KINDS = ("agent.step", "agent.usage")
"""The events whose ``cost_usd`` sum to the agents' spend."""
RESTART_WINDOW = 32
"""Events before each daemon start looked at for the silence that was the downtime."""


@dataclass
class SpendLedger:
    """The spend events' running totals, per agent and for the team; ``catch_up`` reads only what is new, so
    a screen that keeps one pays for each spend event once."""

    last_id: int = 0
    times: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    by_agent: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    async def catch_up(self, store: StoreReader) -> None:
        for event_id, ts, agent, usd in await store.event_values(SPEND_KINDS, "cost_usd", after_id=self.last_id):
            self.last_id = event_id
            _append(self.times, self.totals, ts, usd)
            if agent is not None:
                times, totals = self.by_agent.setdefault(agent, ([], []))
                _append(times, totals, ts, usd)

    def at(self, ts: float, agent: str | None = None) -> float:
        """Dollars spent up to ``ts`` (inclusive), by ``agent`` or by the team."""
        times, totals = (self.times, self.totals) if agent is None else self.by_agent.get(agent, ([], []))
        i = bisect.bisect_right(times, ts)
        return totals[i - 1] if i else 0.0


def _append(times: list[float], totals: list[float], ts: float, usd: float) -> None:
    # Times are kept non-decreasing (a clock stepped back must not break the bisection).
    times.append(max(ts, times[-1]) if times else ts)
    totals.append((totals[-1] if totals else 0.0) + usd)


@dataclass(frozen=True)
class Span:
    """An agent's life: from its start to its last step."""

    start: float
    end: float


@dataclass(frozen=True)
class Alive:
    """Agents' spans and the run's downtime: agent-hours at any moment."""

    spans: dict[str, Span]
    gaps: tuple[tuple[float, float], ...] = ()
    """``(down, up)``: when the run stopped (or its daemon died) and when the next daemon started."""

    def hours(self, ts: float, agent: str | None = None) -> float:
        """Agent-hours up to ``ts``: the team's, or ``agent``'s own."""
        spans = list(self.spans.values()) if agent is None else [self.spans[agent]] if agent in self.spans else []
        return sum(self._seconds(span, ts) for span in spans) / 3600

    def _seconds(self, span: Span, ts: float) -> float:
        end = min(ts, span.end)
        if end <= span.start:
            return 0.0
        down = sum(max(0.0, min(end, up) - max(span.start, gone)) for gone, up in self.gaps)
        return max(0.0, end - span.start - down)


async def alive(store: StoreReader, ledger: SpendLedger) -> Alive:
    """Each agent's span, from its registration or first event (an indexed read) to its last step (in
    ``ledger``): not to its last event, which may be the evaluator's score of its work or a verdict on it,
    written long after it stopped. And the run's downtime."""
    spans: dict[str, Span] = {}
    for row in await store.agents():
        first = await store.events_after(0, limit=1, agent=row.name)
        starts = [t for t in (row.started_ts, first[0].ts if first else None) if t is not None]
        if not starts:
            continue
        start = min(starts)
        steps = ledger.by_agent.get(row.name)
        spans[row.name] = Span(start, max(start, steps[0][-1] if steps else start))
    return Alive(spans, await downtime(store))


async def downtime(store: StoreReader) -> tuple[tuple[float, float], ...]:
    """Before each daemon start but the first (a ``run.state`` event ``starting``), the longest silence among
    the events just before it: the time the run was down, whether its daemon stopped or died."""
    states = await store.events_after(0, kinds=["run.state"], limit=100_000)
    starts = [e for e in states if isinstance(e.payload, RunStateChanged) and e.payload.state == "starting"]
    gaps = []
    for start in starts[1:]:
        before = await store.events_after(max(0, start.id - RESTART_WINDOW - 1), limit=RESTART_WINDOW + 1)
        times = [e.ts for e in before if e.id <= start.id]
        pairs = list(itertools.pairwise(times))
        if pairs:
            gone, up = max(pairs, key=lambda p: p[1] - p[0])
            if up > gone:
                gaps.append((gone, up))
    return tuple(gaps)
