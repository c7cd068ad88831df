"""The run over wall time: one lane per agent, a mark for each thing a supervisor looks back for.

"What happened, and when?": submissions (with their PGR once scored, methods apart from prediction files),
forum posts, flags and monitor actions, the supervisor's commands and pauses, errors and sandbox restarts,
budget events. The marks are read from the event log by kind (the ``(kind, id)`` index): model text, tool
calls and sandbox output, the bulk of a run of a million events, are never read, and statuses other than
``paused`` or sandbox events other than restarts are left out in SQL. ``upto_id`` reads the run as it was
at an event (a replay's moment): no mark after it, no PGR scored after it.

Every label is agent text made safe (``aar.describe``, ``aar.escape``): one line, control characters
spelled out. A viewer draws it as plain text.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

from aar.describe import describe, pgr
from aar.escape import one_line
from aar.events import (
    AgentBranched,
    AgentStatusChanged,
    AgentStepCompleted,
    BudgetChanged,
    BudgetExceeded,
    BudgetWarned,
    CommandApplied,
    DiskLow,
    ErrorRaised,
    EvalScored,
    ForumPosted,
    ModelText,
    MonitorDecided,
    ReviewVerdict,
    SandboxLifecycle,
    SubmissionCreated,
    SupervisorAsked,
    ToolCalled,
    ToolReturned,
)
from aar.store.protocols import StoreReader
from aar.store.rows import EventRow
from aar.store.search_index import SearchHit

MarkKind = Literal["submission", "post", "flag", "control", "error", "budget", "hit"]
"""What a mark is; ``hit`` is a search hit a viewer placed, never one loaded from the log."""
MARK_KINDS: tuple[MarkKind, ...] = ("submission", "post", "flag", "control", "error", "budget")
"""The kinds loaded from the log, in the order a viewer offers them."""
RANK: dict[MarkKind, int] = {"hit": 6, "flag": 5, "error": 4, "control": 3, "submission": 2, "budget": 1, "post": 0}
"""Which mark a viewer shows where several share a cell: the highest."""
SubmissionKind = Literal["predictions", "method"]

EVENT_KINDS: tuple[str, ...] = (
    "submission.created",
    "eval.result",
    "forum.post",
    "monitor.decision",
    "command.applied",
    "agent.status",
    "agent.ask",
    "review.verdict",
    "error",
    "sandbox.lifecycle",
    "disk.low",
    "budget.warning",
    "budget.exceeded",
    "budget.changed",
    "agent.branched",
)
"""The event kinds a timeline reads (``eval.result`` only for the scores and flags of submissions)."""
ONLY: dict[str, tuple[str, tuple[str, ...]]] = {
    "agent.status": ("status", ("paused",)),
    "sandbox.lifecycle": ("action", ("restarted", "recreated", "failed")),
}
"""Of these kinds, only the events whose payload field has one of the values (tested in SQL)."""
STEP_KINDS = ("model.text", "tool.call", "tool.result", "agent.step", "agent.ask")
"""Events that name their agent's step (``step_at``)."""
LABEL_CHARS = 160


@dataclass(frozen=True, slots=True)
class Mark:
    """One thing that happened, at one moment, in one lane."""

    ts: float
    event_id: int
    """The event it was read from: a replay of this moment starts there."""
    kind: MarkKind
    agent: str | None
    """Whose lane; None: the run's own (a broadcast, a full disk)."""
    source: str = ""
    """The event's kind (``sandbox.lifecycle``, ``command.applied``...)."""
    what: str = ""
    """The event's own word for it: the command (``pause``, ``redirect``), the status, the sandbox action,
    the budget's limit."""
    submission_id: int | None = None
    submission_kind: SubmissionKind | None = None
    """``method`` (re-run and verified by the evaluator) or ``predictions`` (a file scored as it is)."""
    pgr: float | None = None
    """The PGR the evaluator gave the submission by the timeline's moment; None while unscored."""
    flags: tuple[str, ...] = ()
    post_id: int | None = None
    step: int | None = None
    """The agent's step, where the event names it (a question; a search hit)."""
    text: str = ""
    """What ``label`` says, where it was written when the mark was made."""
    event: EventRow | None = field(default=None, repr=False, compare=False)
    """The event, for ``label`` to describe when it is first asked (most marks never are)."""
    score: EvalScored | None = field(default=None, repr=False, compare=False)
    """A submission's score (with its interval), kept to carry it into a timeline read on from this one."""

    @property
    def label(self) -> str:
        """One line that says what it was; agent text escaped."""
        return describe(self.event, "log").text if not self.text and self.event is not None else self.text


@dataclass(frozen=True, slots=True)
class Lane:
    agent: str | None
    """None: the run's lane (run-wide marks)."""
    marks: tuple[Mark, ...]
    """In time order."""
    times: tuple[float, ...] = field(default=(), compare=False)
    """The marks' times, for finding a moment by bisection."""

    @property
    def name(self) -> str:
        return "run" if self.agent is None else self.agent

    def between(self, start: float, end: float) -> tuple[Mark, ...]:
        """The marks at ``start <= ts < end``."""
        return self.marks[bisect.bisect_left(self.times, start) : bisect.bisect_left(self.times, end)]


def lane(agent: str | None, marks: list[Mark]) -> Lane:
    marks.sort(key=lambda m: (m.ts, m.event_id))
    return Lane(agent, tuple(marks), tuple(m.ts for m in marks))


@dataclass(frozen=True, slots=True)
class Timeline:
    start: float
    """The run's first event."""
    end: float
    """Its last event up to the moment read."""
    lanes: tuple[Lane, ...]
    """One per agent in the order they joined, then the run's own lane when it has marks."""
    upto_id: int = 0
    """The last event read."""

    def marks(self) -> list[Mark]:
        """Every mark of every lane, in time order."""
        return sorted((m for lane in self.lanes for m in lane.marks), key=lambda m: (m.ts, m.event_id))

    def lane_of(self, agent: str | None) -> int | None:
        return next((i for i, lane in enumerate(self.lanes) if lane.agent == agent), None)

    def with_hit(self, hit: Mark) -> Timeline:
        """This timeline with ``hit`` (a search hit) in its agent's lane, or in a lane of its own where the
        agent has none (a supervisor's post)."""
        lanes = [lane(old.agent, [*old.marks, hit]) if old.agent == hit.agent else old for old in self.lanes]
        if self.lane_of(hit.agent) is None:
            lanes.append(lane(hit.agent, [hit]))
        return Timeline(self.start, self.end, tuple(lanes), self.upto_id)


async def load_timeline(store: StoreReader, *, upto_id: int | None = None, after: Timeline | None = None) -> Timeline:
    """The run's timeline up to ``upto_id`` (the whole log: None); ``after``: a timeline read before, to which
    only the events written since are added (its submissions take the scores and flags given since). ``after``
    itself when nothing was written since."""
    if after is not None and upto_id is not None and upto_id < after.upto_id:
        after = None  # an earlier moment than the one read: read it afresh
    since = after.upto_id if after is not None else 0
    last = await store.events_of(None, upto_id=upto_id, newest=1)
    if after is not None and (not last or last[0].id == since):
        return after
    only = {k: (f, list(v)) for k, (f, v) in ONLY.items()}
    rows = await store.events_of(EVENT_KINDS, after_id=since, upto_id=upto_id, only=only)
    names = [a.name for a in await store.agents()]
    labels = {r.submission_id: r.label for r in await store.leaderboard()}
    first = await store.events_after(0, limit=1)
    start = first[0].ts if first else 0.0
    end = last[0].ts if last else start
    marks = _marks(rows, labels, [m for lane in after.lanes for m in lane.marks] if after is not None else [])
    by_agent: dict[str | None, list[Mark]] = {name: [] for name in names}
    for mark in marks:
        by_agent.setdefault(mark.agent, []).append(mark)
    run_marks = by_agent.pop(None, [])
    lanes = [lane(agent, found) for agent, found in by_agent.items()]
    if run_marks:
        lanes.append(lane(None, run_marks))
    return Timeline(start=start, end=max(end, start), lanes=tuple(lanes), upto_id=last[0].id if last else 0)


def _marks(rows: list[EventRow], labels: dict[int, str], earlier: list[Mark]) -> list[Mark]:
    """The marks of ``rows`` (in id order) after the ``earlier`` ones (search hits left out); each submission's
    once its score and flags up to the last row are known."""
    scores: dict[int, EvalScored] = {}
    flagged: dict[int, set[str]] = {}
    created: list[tuple[EventRow, SubmissionCreated]] = []
    out: list[Mark] = []
    for mark in earlier:
        made = mark.event.payload if mark.event is not None and mark.kind == "submission" else None
        if isinstance(made, SubmissionCreated) and mark.event is not None:
            created.append((mark.event, made))  # made again below, with what was scored since
            flagged[made.submission_id] = set(mark.flags)
            if mark.score is not None:
                scores[made.submission_id] = mark.score
        elif mark.kind != "hit":
            out.append(mark)
    for row in rows:
        match row.payload:
            case SubmissionCreated() as p:
                created.append((row, p))
                known = flagged.setdefault(p.submission_id, set())
                new = [f for f in p.flags if f not in known]
                if new:
                    flagged[p.submission_id].update(new)
                    out.append(_flag_of(row, p.submission_id, new, labels))
            case EvalScored() as p if row.agent is not None and p.submission_id is not None:
                scores[p.submission_id] = p  # the latest score stands (a retried job scores again)
                known = flagged.setdefault(p.submission_id, set())
                new = [f for f in p.flags if f not in known]
                if new:
                    flagged[p.submission_id].update(new)
                    out.append(_flag_of(row, p.submission_id, new, labels))
            case ForumPosted() as p:
                out.append(_mark(row, "post", "post", post_id=p.post_id))
            case MonitorDecided() as p:
                out.append(_mark(row, "flag", p.action, submission_id=p.submission_id, post_id=p.post_id))
            case CommandApplied() as p:
                out.append(_mark(row, "control", p.command))
            case AgentStatusChanged() as p:
                out.append(_mark(row, "control", p.status))
            case SupervisorAsked() as p:
                out.append(_mark(row, "control", "ask", step=p.step))
            case ReviewVerdict() as p:
                out.append(_mark(row, "control", "verdict", submission_id=p.submission_id))
            case ErrorRaised():
                out.append(_mark(row, "error", "error"))
            case SandboxLifecycle() as p:
                out.append(_mark(row, "error", p.action))
            case DiskLow():
                out.append(_mark(row, "error", "disk"))
            case BudgetWarned() | BudgetExceeded() as p:
                out.append(_mark(row, "budget", p.limit))
            case BudgetChanged() as p:
                out.append(_mark(row, "budget", p.resource))
            case AgentBranched() as p:
                out.append(_mark(row, "control", "branch", step=p.step))
    for row, p in created:
        out.append(_submission(row, p, scores.get(p.submission_id), flagged[p.submission_id], labels))
    return out


def _mark(
    row: EventRow,
    kind: MarkKind,
    what: str,
    *,
    submission_id: int | None = None,
    post_id: int | None = None,
    step: int | None = None,
) -> Mark:
    """A mark that says what its event says (``aar.describe``'s line for a log)."""
    return Mark(
        ts=row.ts,
        event_id=row.id,
        kind=kind,
        agent=row.agent,
        event=row,
        source=row.kind,
        what=what,
        submission_id=submission_id,
        post_id=post_id,
        step=step,
    )


def _submission(
    row: EventRow, p: SubmissionCreated, score: EvalScored | None, flags: set[str], labels: dict[int, str]
) -> Mark:
    label = labels.get(p.submission_id, "")
    text = f"submission #{p.submission_id} {p.submission_kind}" + (f" {one_line(label, 80)}" if label else "")
    text += f": PGR {pgr(score.pgr, score.ci_low, score.ci_high)}" if score else ": not scored yet"
    ordered = tuple(sorted(flags))
    text += f" · flagged {', '.join(ordered)}" if ordered else ""
    return Mark(
        ts=row.ts,
        event_id=row.id,
        kind="submission",
        agent=row.agent,
        text=one_line(text, LABEL_CHARS),
        event=row,
        score=score,
        source=row.kind,
        what=p.submission_kind,
        submission_id=p.submission_id,
        submission_kind=p.submission_kind,
        pgr=score.pgr if score else None,
        flags=ordered,
    )


def _flag_of(row: EventRow, submission_id: int, flags: list[str] | set[str], labels: dict[int, str]) -> Mark:
    label = labels.get(submission_id, "")
    what = f" ({one_line(label, 60)})" if label else ""
    return Mark(
        ts=row.ts,
        event_id=row.id,
        kind="flag",
        agent=row.agent,
        text=one_line(f"submission #{submission_id}{what} flagged: {', '.join(sorted(flags))}", LABEL_CHARS),
        source=row.kind,
        what="submission",
        submission_id=submission_id,
        flags=tuple(sorted(flags)),
    )


async def step_at(store: StoreReader, agent: str, event_id: int) -> int | None:
    """The step ``agent`` was at when ``event_id`` was written: that of its latest event that names one
    (None before its first step)."""
    found = await store.events_of(STEP_KINDS, agent=agent, upto_id=event_id, newest=1)
    match found[0].payload if found else None:
        case ModelText() | ToolCalled() | ToolReturned() | AgentStepCompleted() | SupervisorAsked() as p:
            return p.step
    return None


def hit_mark(hit: SearchHit, event_id: int) -> Mark:
    """A search hit as a mark a cursor can stand on: its agent's lane, its moment (``event_id``: the first event
    written then), its step, or its post."""
    where = f"post #{hit.ref}" if hit.kind == "post" else f"step {hit.step}"
    return Mark(
        ts=hit.ts,
        event_id=event_id,
        kind="hit",
        agent=hit.agent,
        text=one_line(f"search hit, {hit.kind} at {where}: {hit.snippet}", LABEL_CHARS),
        source="search",
        what=hit.kind,
        post_id=hit.ref if hit.kind == "post" else None,
        step=hit.step,
    )
