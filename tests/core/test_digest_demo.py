"""The digest after a detach of a real scripted run (a researcher that asks the supervisor, one that cheats
on purpose, two honest ones): ``aar digest`` from the detach lists exactly the submissions written since, with
their flags, the monitor actions since, and the questions still waiting, as the run's own rows have them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from aar.lock import holder_pid
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support import aar_cli, eventually_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]

CONFIG = """
[run]
name = "away"
runs_dir = "{runs}"
max_steps = 14

[team]
backend = "scripted"
pace_s = 0.05

[[agents]]
name = "asker"
direction = "Bootstrapping / self-training. Ask the supervisor before your first claim."

[[agents]]
name = "tuner"
direction = "Tune vanilla transfer: learning rate, epochs and early stopping of the strong student."

[[agents]]
name = "filter"
direction = "Confident-label filtering: find the best confidence threshold on the weak labels."

[[agents]]
name = "cheat"
direction = "Auxiliary confidence loss: vary the final weight and the warmup."

[scripted]
misbehaving = ["cheat"]

[sandbox]
backend = "local"

[task]
name = "toy"

[evaluator]
device = "cpu"
seeds = 1
"""


def _rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as raw:
            return raw.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


async def _detach(db: Path, ts: float) -> None:
    """What the TUI records when the supervisor detaches."""
    async with await RunStore.open(db) as store:
        await store.mark_seen(ts)


def test_the_digest_after_a_detach_lists_exactly_what_was_written_since(tmp_path: Path) -> None:
    config = tmp_path / "away.toml"
    config.write_text(CONFIG.format(runs=tmp_path / "runs"))
    started = aar_cli("run", str(config), "--no-attach", cwd=tmp_path, timeout=120)
    assert started.returncode == 0, started.stderr
    (root,) = (tmp_path / "runs").iterdir()
    paths = RunPaths(root)
    try:
        eventually_sync(lambda: _rows(paths.db, "SELECT 1 FROM submissions"), timeout=300, what="a first submission")
        left = time.time()
        asyncio.run(_detach(paths.db, left))
        eventually_sync(
            lambda: len(_rows(paths.db, "SELECT 1 FROM submissions WHERE ts >= ?", (left,))) >= 3,
            timeout=300,
            what="three submissions after the detach",
        )
        # The daemon frozen while the digest and the rows are read, so both see the same run.
        pid = holder_pid(paths.lock)
        assert pid and pid > 0
        os.kill(pid, signal.SIGSTOP)
        try:
            out = aar_cli("digest", paths.run_id, "--json", cwd=tmp_path, timeout=60)
            inbox = aar_cli("inbox", paths.run_id, "--json", cwd=tmp_path, timeout=60)
            written = _rows(paths.db, "SELECT id, agent, flags FROM submissions WHERE ts >= ? ORDER BY id", (left,))
            first = _rows(paths.db, "SELECT min(id) FROM events WHERE ts >= ?", (left,))[0][0]
            decided = _rows(
                paths.db, "SELECT id, agent FROM events WHERE kind = 'monitor.decision' AND id >= ?", (first,)
            )
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        aar_cli("stop", paths.run_id, cwd=tmp_path, timeout=120)
        eventually_sync(lambda: holder_pid(paths.lock) is None, timeout=120, what="the daemon to end")

    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["since"] == pytest.approx(left, abs=0.001), "it starts at the detach"
    agents = {a["agent"]: a for a in found["agents"]}
    assert [e["submission_id"] for e in found["team"]["submissions"]] == [r[0] for r in written]
    for name, mine in agents.items():
        assert [e["submission_id"] for e in mine["submissions"]] == [r[0] for r in written if r[1] == name], name
        assert mine["flagged"] == sum(1 for r in written if r[1] == name and json.loads(r[2])), name
    assert found["team"]["flagged"] == sum(1 for r in written if json.loads(r[2]))
    assert [e["event_id"] for e in found["team"]["monitor_actions"]] == [r[0] for r in decided]
    assert {r[1] for r in decided} <= {"cheat"}, "no monitor acted on the honest researchers"

    waiting = sorted(i["id"] for i in json.loads(inbox.stdout) if i["kind"] in ("ask", "approval"))
    assert waiting, "the asker's question waits"
    assert sorted(e["inbox_id"] for e in found["team"]["waiting"]) == waiting
    assert sorted(e["inbox_id"] for e in agents["asker"]["waiting"]) == waiting
