"""The run store: SQLite (WAL) tables that are the run's bus and record."""

from aar.store.branch_table import BranchRow
from aar.store.rows import (
    TRANSFER_SPLIT,
    AgentRow,
    BudgetChangeRow,
    CommandRow,
    EventRow,
    InboxRow,
    JobRow,
    LeaderboardRow,
    MessageRow,
    PostClaim,
    PostRow,
    ReferenceRow,
    ResultRow,
    SubmissionRow,
    VerdictRow,
)
from aar.store.store import RunStore

__all__ = [
    "TRANSFER_SPLIT",
    "AgentRow",
    "BranchRow",
    "BudgetChangeRow",
    "CommandRow",
    "EventRow",
    "InboxRow",
    "JobRow",
    "LeaderboardRow",
    "MessageRow",
    "PostClaim",
    "PostRow",
    "ReferenceRow",
    "ResultRow",
    "RunStore",
    "SubmissionRow",
    "VerdictRow",
]
