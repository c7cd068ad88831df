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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypedDict

from aar.describe import describe
from aar.events import (
    AgentStatusChanged,
    ApprovalRequested,
    BudgetExceeded,
    BudgetWarned,
    ClaimChecked,
    DiskLow,
    ErrorRaised,
    EvalJobChanged,
    EvalScored,
    MonitorDecided,
    NotifyFailed,
    RunLog,
    SandboxExited,
    SandboxLifecycle,
    SubmissionCreated,
    SupervisorAsked,
    ToolReturned,
    Unreadable,
    WorkspaceRepaired,
)
from aar.fold import fold_all, until_stopped

if TYPE_CHECKING:
    from aar.store import RunStore
    from aar.store.rows import EventRow

BLOCKING, ALERT, NOTICE = 0, 1, 2
RANK_NAMES = {BLOCKING: "blocking", ALERT: "alert", NOTICE: "notice"}
ENDED = frozenset({"stopped", "finished", "error", "out_of_budget"})
FOLLOW_INTERVAL_S = 0.25
"""How often the daemon's inbox builder reads new events."""

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
    "disk.low",
    "notify.failed",
)
"""The event kinds ``derive`` looks at; the builder reads no others (model text and sandbox output are most
of a run's events) but the kinds this aar does not know, which it reports."""
WAITS: tuple[str, ...] = ("approval", "ask")
"""Item kinds that block an agent and are settled by later events (``Clear``)."""

ItemKind = Literal[
    "approval", "ask", "monitor", "claim", "flagged", "budget", "eval_failed", "sandbox", "warning", "error", "notify"
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


class _About(TypedDict, total=False):
    """What an item is about, beside its agent: the subject the inbox groups its items by."""

    call_id: str | None
    post_id: int | None
    submission_id: int | None
    job_id: int | None


@dataclass(frozen=True)
class Clear:
    """Open items of ``agent`` of these kinds (and, if set, this tool call) are settled by this event."""

    agent: str
    kinds: tuple[ItemKind, ...]
    call_id: str | None = None


def derive(event: EventRow) -> NewItem | Clear | None:
    """What ``event`` does to the inbox: raise an item, clear some, or nothing. An unreadable event raises an
    ``error`` item of its own (once: items are keyed by their event), and the events after it are read.
    An item's summary is the event's ``inbox`` line (``aar.describe``)."""
    agent = event.agent
    match event.payload:
        case ToolReturned() as p if agent:
            return Clear(agent, ("approval",), call_id=p.call_id)
        case AgentStatusChanged(status=status) if agent and status in ENDED:
            return Clear(agent, ("approval", "ask"))
        case AgentStatusChanged(status="thinking") if agent:  # the agent went on: its question was answered
            return Clear(agent, ("ask",))
    raised = _raised(event)
    if raised is None:
        return None
    kind, rank, about = raised
    return NewItem(kind, rank, describe(event, "inbox").text, **about)


def _raised(event: EventRow) -> tuple[ItemKind, int, _About] | None:
    """The kind, rank and subject of the item ``event`` raises, if it raises one."""
    match event.payload:
        case Unreadable():
            return "error", ALERT, {}
        case ApprovalRequested() as p:
            return "approval", BLOCKING, {"call_id": p.call_id}
        case SupervisorAsked() as p:
            return "ask", BLOCKING, {"call_id": p.call_id or None}
        case MonitorDecided() as p:
            return "monitor", ALERT, {"post_id": p.post_id, "submission_id": p.submission_id}
        case ClaimChecked(verdict="contradicted") as p:
            return "claim", ALERT, {"post_id": p.post_id}
        case SubmissionCreated() as p if p.flags:
            return "flagged", ALERT, {"submission_id": p.submission_id}
        case EvalScored() as p if p.flags:
            return "flagged", ALERT, {"submission_id": p.submission_id, "job_id": p.job_id}
        case EvalJobChanged(status="failed") as p:
            return "eval_failed", ALERT, {"job_id": p.job_id}
        case BudgetExceeded() as p if p.limit != "steps":
            return "budget", ALERT, {}
        case BudgetWarned():
            return "budget", NOTICE, {}
        case SandboxLifecycle(action="recreated" | "failed"):
            return "sandbox", ALERT, {}
        case SandboxExited(oom_killed=True) as p:
            return "sandbox", ALERT, {"call_id": p.call_id}
        case RunLog(level="warning" | "error") as p:
            return "warning" if p.level == "warning" else "error", ALERT, {}
        case WorkspaceRepaired():
            return "sandbox", ALERT, {}
        case DiskLow():
            return "warning", ALERT, {}
        case NotifyFailed(final=True):  # no try left: the alerts it carried are lost, and the supervisor must know
            return "notify", ALERT, {}
        case ErrorRaised():
            return "error", ALERT, {}
    return None


class FoldsInbox(Protocol):
    """What ``catch_up`` needs of a store: the inbox table's batch fold."""

    async def fold_inbox_batch(self, *, limit: int = 5000) -> int: ...


async def catch_up(store: FoldsInbox, *, batch: int = 5000) -> int:
    """Fold every committed event not yet in the inbox; returns how many events of ``KINDS`` were read."""
    return await fold_all(lambda n: store.fold_inbox_batch(limit=n), batch)


async def follow(store: RunStore, stop: asyncio.Event, *, interval: float = FOLLOW_INTERVAL_S) -> None:
    """The daemon's inbox builder: keep the inbox up with the log until ``stop``, then fold what is left.

    A fold that fails raises: the daemon's supervisor records it and starts this again (the cursor is in
    the store, so nothing is folded twice or skipped)."""
    await until_stopped(lambda: catch_up(store), stop, interval)
    await store.flush()
    await catch_up(store)
