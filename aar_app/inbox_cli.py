"""``aar inbox RUN [--json] [--all] [--ack ID ...]``: the supervisor's inbox for scripts and a plain SSH session.

Items about one subject (a post, a submission, a job, a tool call) are one line with every reason;
``--ack`` with its id acknowledges them all.

With no daemon driving the run (stopped, crashed), the events not yet folded
into the inbox are folded first, so the list is whole either way.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from datetime import datetime

from aar.escape import one_line
from aar.inbox import RANK_NAMES, catch_up
from aar.lock import holder_pid
from aar.runtime import RunPaths
from aar.store import InboxRow, RunStore


def who() -> str:
    """How an acknowledgement names the person: ``aar inbox`` run by ``user``."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd entry)
        return "supervisor"


async def read_inbox(paths: RunPaths, *, include_done: bool, ack: list[int]) -> tuple[list[InboxRow], int]:
    async with await RunStore.open(paths.db) as store:
        if holder_pid(paths.lock) is None:
            await catch_up(store)
        acked = await store.acknowledge(ack, f"{who()} (aar inbox)") if ack else 0
        return await store.inbox(open_only=not include_done, limit=100_000), acked


def render(rows: list[InboxRow], *, as_json: bool) -> str:
    """The inbox as text for a terminal (one line a subject, its other reasons after its own, agent text
    escaped: ``aar.escape``), or as JSON (whose strings escape every control character). ``--ack ID``
    acknowledges the whole line."""
    if as_json:
        return json.dumps(
            [{**r.model_dump(), "rank_name": RANK_NAMES[r.rank], "open": r.is_open} for r in rows], indent=2
        )
    if not rows:
        return "the inbox is empty"
    lines = []
    for r in rows:
        when = datetime.fromtimestamp(r.ts).strftime("%m-%d %H:%M:%S")
        state = "" if r.is_open else f"  [acknowledged by {r.ack_by}]" if r.ack_ts else "  [settled]"
        agent = one_line(r.agent or "run", 40)
        summary = one_line(r.summary, 300) + _more(r.reasons[1:])
        lines.append(f"{r.id:>6} {RANK_NAMES[r.rank]:<8} {when} {agent:<12} {r.kind:<11} {summary}{one_line(state)}")
    return "\n".join(lines)


def _more(reasons: list[str]) -> str:
    """The other reasons of a row's subject, on its line: ``  (+2: post #5 says ... | post #5 says ...)``."""
    return f"  (+{len(reasons)}: {one_line(' | '.join(reasons), 300)})" if reasons else ""


def main(paths: RunPaths, *, as_json: bool, include_done: bool, ack: list[int]) -> int:
    rows, acked = asyncio.run(read_inbox(paths, include_done=include_done, ack=ack))
    if ack and not as_json:
        print(f"acknowledged {acked} item(s) at {time.strftime('%H:%M:%S')}")
    print(render(rows, as_json=as_json))
    return 0
