"""The monitors invariant: every decision a rule makes on the log is on record.

The run's configured rules judge its event log again, offline, on a copy of
the store: each event (up to the last fault) goes to the rules that judge it
as it is emitted (``SyncRule`` and the ``sync_kinds`` of the others: no
store, no model, no clock), in id order, as the daemon heard them. Each
finding must have a ``monitor.decision`` event of the same monitor about the
same agent with the same reason. What needs I/O (the store, a model) or
time passing (idleness) is not judged here.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path

from aar.config import load_config
from aar.events import MonitorDecided, Unreadable
from aar.invariants import Checked
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.monitors.base import Seen
from agents.monitors.runner import MonitorRunner


async def _judge(paths: RunPaths, upto: int) -> tuple[list[tuple[int, str, str, str]], set[tuple[str, str, str]]]:
    """The findings of the synchronous rules on events ``1..upto`` (event id, monitor, agent, reason), and the
    decisions on record (monitor, agent, reason)."""
    async with await RunStore.open(paths.db) as store:
        runner = MonitorRunner(RunContext(paths=paths, config=load_config(paths.config), store=store))
        runner.build()
        found: list[tuple[int, str, str, str]] = []
        decided: set[tuple[str, str, str]] = set()
        last = 0
        while True:
            rows = await store.events_after(last, limit=5000)
            if not rows:
                break
            last = rows[-1].id
            for row in rows:
                payload = row.payload
                if isinstance(payload, MonitorDecided):
                    decided.add((payload.monitor, row.agent or "", payload.reason))
                if isinstance(payload, Unreadable) or row.id > upto:
                    continue
                for rule in runner._now.get(row.kind, ()):
                    if rule.__class__.__name__ == "_Silent":
                        continue
                    for finding in rule.see(Seen(row.agent, payload, row.ts)):
                        found.append((row.id, rule.config.label, finding.agent, finding.reason))
    return found, decided


def monitor_decisions_recorded(root: Path, upto: int) -> Checked:
    """Every finding of the synchronous rules on events up to ``upto`` has its ``monitor.decision`` on record."""
    with tempfile.TemporaryDirectory(prefix="chaos-monitors-") as tmp:
        copy = RunPaths(Path(tmp) / root.name)
        copy.make()
        shutil.copy(root / "config.toml", copy.config)
        with sqlite3.connect(f"file:{root / 'run.db'}?mode=ro", uri=True) as source, sqlite3.connect(copy.db) as target:
            source.backup(target)
        source.close()
        target.close()
        found, decided = asyncio.run(_judge(copy, upto))
    bad = [
        f"event {event_id}: monitor {monitor} found {agent}: {reason!r}, but no decision says so"
        for event_id, monitor, agent, reason in found
        if (monitor, agent, reason) not in decided
    ]
    return Checked("monitor_decisions_recorded", len(found), bad)
