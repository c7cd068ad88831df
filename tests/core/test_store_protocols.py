"""Each consumer's slice of the store stays narrow: widening one is a deliberate edit of this test.

mypy proves that ``RunStore`` satisfies every protocol and that each consumer calls only what its
protocol has; this pins what the protocols have.
"""

from __future__ import annotations

import inspect

from aar.store import RunStore
from aar.store.protocols import AgentStore, StoreReader, TuiStore, WorkerStore


def _members(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction) if not name.startswith("_")}


def test_the_tui_writes_only_commands_posts_acknowledgements_verdicts_and_its_detach() -> None:
    """``record_verdict`` joined deliberately (the review desk): a verdict is a supervisor's write like
    ``add_post``, an event and a supervisor post in one transaction, the same one ``aar review --verdict`` makes;
    it drives nothing in the run (no job, no agent row)."""
    assert _members(TuiStore) - _members(StoreReader) == {
        "issue_command",
        "add_post",
        "acknowledge",
        "mark_seen",
        "record_verdict",
    }
    writes = {"emit", "flush", "enqueue_job", "claim_job", "update_job", "add_result", "register_agent", "set_meta"}
    assert not writes & _members(TuiStore)


def test_the_worker_touches_jobs_and_results_only() -> None:
    assert _members(WorkerStore) == {"enqueue_job", "claim_job", "update_job", "jobs", "add_result", "results", "close"}


def test_agents_cannot_issue_commands_or_touch_jobs() -> None:
    members = _members(AgentStore)
    assert {"emit", "transcript", "append_step"} <= members
    assert not {"issue_command", "commands", "claim_job", "update_job", "enqueue_job", "acknowledge"} & members


def test_the_run_store_has_every_member_with_the_same_parameters() -> None:
    for protocol in (TuiStore, WorkerStore, AgentStore):
        for name in _members(protocol):
            theirs = inspect.signature(getattr(RunStore, name)).parameters
            ours = inspect.signature(getattr(protocol, name)).parameters
            assert list(theirs) == list(ours), f"{protocol.__name__}.{name} drifted from RunStore.{name}"
