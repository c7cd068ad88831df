"""The supervisor's inbox: what in the event log needs a human, ranked.

Items are derived from events, one per source event, by a pure function
(``derive``), so the ``inbox`` table can be dropped and rebuilt from the log
and folding an event twice changes nothing. Some events raise an item
(an approval request, a question, a monitor's flag...), others clear one
(the tool call was decided, the asking agent went on, the agent ended).
Acknowledgements are written apart, by whoever acknowledges, and keyed by
the source event, so a rebuild keeps them.

Ranks: what blocks an agent first (approval waits, questions), then alerts
(monitors, contradicted claims, flagged submissions, failed jobs, budgets
spent, sandbox trouble, the daemon's warnings), then the rest (budget warnings).
The list keeps each agent's items together, at the rank of its most urgent
one (``InboxTable.inbox``): an alert about an agent that asks a question is
read beside the question, so a flood of questions cannot bury it.

Summaries are agent text (questions, tool input, reasons quoting posts): they
are kept on one line with their control characters spelled out
(``aar.escape``), and every surface escapes them again when it prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aar.escape import one_line
from aar.events import (
    AgentStatusChanged,
    ApprovalRequested,
    BudgetExceeded,
    BudgetWarned,
    ClaimChecked,
    ErrorRaised,
    EvalJobChanged,
    EvalScored,
    MonitorDecided,
    RunLog,
    SandboxExited,
    SandboxLifecycle,
    SubmissionCreated,
    SupervisorAsked,
    ToolReturned,
    Unreadable,
    WorkspaceRepaired,
)

if TYPE_CHECKING:
    from aar.store import RunStore
    from aar.store.rows import EventRow

BLOCKING, ALERT, NOTICE = 0, 1, 2
RANK_NAMES = {BLOCKING: "blocking", ALERT: "alert", NOTICE: "notice"}
ENDED = frozenset({"stopped", "finished", "error", "out_of_budget"})
FOLLOW_INTERVAL_S = 0.25
"""How often the daemon's inbox builder reads new events."""
SUMMARY_CHARS = 300

KINDS: tuple[str, ...] = (
    "approval.requested",
    "agent.ask",
    "tool.result",
    "agent.status",
    "monitor.decision",
    "forum.claim",
    "submission.created",
    "eval.result",
    "eval.job",
    "budget.exceeded",
    "budget.warning",
    "sandbox.lifecycle",
    "sandbox.exit",
    "log",
    "error",
    "workspace.repaired",
)
"""The event kinds ``derive`` looks at; the builder reads no others (model text and sandbox output are most
of a run's events) but the kinds this aar does not know, which it reports."""
WAITS: tuple[str, ...] = ("approval", "ask")
"""Item kinds that block an agent and are settled by later events (``Clear``)."""

ItemKind = Literal[
    "approval", "ask", "monitor", "claim", "flagged", "budget", "eval_failed", "sandbox", "warning", "error"
]


@dataclass(frozen=True)
class NewItem:
    """An inbox item raised by one event."""

    kind: ItemKind
    rank: int
    summary: str
    call_id: str | None = None
    post_id: int | None = None
    submission_id: int | None = None
    job_id: int | None = None


@dataclass(frozen=True)
class Clear:
    """Open items of ``agent`` of these kinds (and, if set, this tool call) are settled by this event."""

    agent: str
    kinds: tuple[ItemKind, ...]
    call_id: str | None = None


def _line(text: str) -> str:
    return one_line(str(text), SUMMARY_CHARS)


def _args(value: dict[str, Any]) -> str:
    if set(value) == {"command"}:
        return str(value["command"])
    return json.dumps(value, ensure_ascii=False)


def derive(event: EventRow) -> NewItem | Clear | None:
    """What ``event`` does to the inbox: raise an item, clear some, or nothing. An unreadable event raises an
    ``error`` item of its own (once: items are keyed by their event), and the events after it are read."""
    agent = event.agent
    match event.payload:
        case Unreadable() as p:
            return NewItem("error", ALERT, _line(p.describe(event.id)))
        case ApprovalRequested() as p:
            return NewItem("approval", BLOCKING, _line(f"wants to run {p.tool} {_args(p.input)}"), call_id=p.call_id)
        case SupervisorAsked() as p:
            return NewItem("ask", BLOCKING, _line(p.question), call_id=p.call_id or None)
        case ToolReturned() as p if agent:
            return Clear(agent, ("approval",), call_id=p.call_id)
        case AgentStatusChanged(status=status) if agent and status in ENDED:
            return Clear(agent, ("approval", "ask"))
        case AgentStatusChanged(status="thinking") if agent:  # the agent went on: its question was answered
            return Clear(agent, ("ask",))
        case MonitorDecided() as p:
            return NewItem(
                "monitor",
                ALERT,
                _line(f"{p.rule} -> {p.action}: {p.reason}"),
                post_id=p.post_id,
                submission_id=p.submission_id,
            )
        case ClaimChecked(verdict="contradicted") as p:
            return NewItem(
                "claim",
                ALERT,
                _line(
                    f"post #{p.post_id} says {p.claim!r} ({p.metric} {p.value:g}), "
                    "which matches no result the evaluator showed its author"
                ),
                post_id=p.post_id,
            )
        case SubmissionCreated() as p if p.flags:
            sid = p.submission_id
            return NewItem(
                "flagged", ALERT, _line(f"submission #{sid} flagged: {', '.join(p.flags)}"), submission_id=sid
            )
        case EvalScored() as p if p.flags:
            what = f"submission #{p.submission_id}" if p.submission_id is not None else f"job {p.job_id}"
            return NewItem(
                "flagged",
                ALERT,
                _line(f"{what} scored with flags: {', '.join(p.flags)}"),
                submission_id=p.submission_id,
                job_id=p.job_id,
            )
        case EvalJobChanged(status="failed") as p:
            detail = f": {p.detail}" if p.detail else ""
            return NewItem("eval_failed", ALERT, _line(f"{p.job_kind} job {p.job_id} failed{detail}"), job_id=p.job_id)
        case BudgetExceeded() as p if p.limit != "steps":
            return NewItem("budget", ALERT, _line(f"{p.limit} budget spent (100%): {p.used:g} of {p.cap:g}"))
        case BudgetWarned() as p:
            return NewItem("budget", NOTICE, _line(f"{p.limit} budget at {p.fraction:.0%}: {p.used:g} of {p.cap:g}"))
        case SandboxLifecycle(action="recreated" | "failed") as p:
            detail = f": {p.detail}" if p.detail else ""
            return NewItem("sandbox", ALERT, _line(f"sandbox {p.action}{detail}"))
        case SandboxExited(oom_killed=True) as p:
            return NewItem("sandbox", ALERT, _line(f"sandbox command {p.call_id} was OOM-killed"), call_id=p.call_id)
        case RunLog(level="warning" | "error") as p:
            return NewItem("warning" if p.level == "warning" else "error", ALERT, _line(p.message))
        case WorkspaceRepaired() as p:
            done = f"could not be repaired: {p.error}" if p.error else "replaced by a clean copy"
            return NewItem("sandbox", ALERT, _line(f"workspace of {agent}: {p.found}; task/ {done}"))
        case ErrorRaised() as p:
            where = f" ({p.where})" if p.where else ""
            return NewItem("error", ALERT, _line(f"{p.message}{where}"))
    return None


class FoldsInbox(Protocol):
    """What ``catch_up`` needs of a store: the inbox table's batch fold."""

    async def fold_inbox_batch(self, *, limit: int = 5000) -> int: ...


async def catch_up(store: FoldsInbox, *, batch: int = 5000) -> int:
    """Fold every committed event not yet in the inbox; returns how many events of ``KINDS`` were read."""
    total = 0
    while True:
        read = await store.fold_inbox_batch(limit=batch)
        total += read
        if read < batch:
            return total


async def follow(store: RunStore, stop: asyncio.Event, *, interval: float = FOLLOW_INTERVAL_S) -> None:
    """The daemon's inbox builder: keep the inbox up with the log until ``stop``, then fold what is left.

    A fold that fails raises: the daemon's supervisor records it and starts this again (the cursor is in
    the store, so nothing is folded twice or skipped)."""
    while not stop.is_set():
        await catch_up(store)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    await store.flush()
    await catch_up(store)
