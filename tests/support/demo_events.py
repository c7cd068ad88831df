"""Events the offline demo's misbehaving researcher makes, for tests that write them into a real store."""

from __future__ import annotations

from aar.events import ClaimChecked, MonitorDecided
from aar.store import RunStore

CLAIMS = ("recovers 93% of the gap", "PGR 0.93")
"""The two numbers of its post that match none of its results."""


def emit_contradicted_post(store: RunStore, post_id: int, author: str = "agent-4") -> None:
    """A post whose two numbers are checked and contradicted, then the ``contradicted_claims`` monitor's flag
    about it, in the order the claim checker writes them (not flushed)."""
    for claim in CLAIMS:
        store.emit(author, ClaimChecked(post_id=post_id, metric="pgr", value=0.93, claim=claim, verdict="contradicted"))
    store.emit(
        author,
        MonitorDecided(
            monitor="builtin",
            rule="contradicted_claims",
            action="flag",
            reason=f"post #{post_id} claims {'; '.join(CLAIMS)}, which matches no result the evaluator showed {author}",
            post_id=post_id,
        ),
    )
