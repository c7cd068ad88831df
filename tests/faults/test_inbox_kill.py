"""kill -9 the daemon with inbox items acknowledged and a budget move written but not yet applied;
``aar resume`` keeps every item and acknowledgement and applies the move exactly once."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aar.commands import Budget, Command, Resume
from aar.lock import holder_pid
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.support import aar_cli, eventually_sync

EXAMPLES = Path(__file__).parents[2] / "examples"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


_aar = functools.partial(aar_cli, timeout=120)


def _inbox(run: str, cwd: Path, *extra: str) -> list[dict[str, Any]]:
    out = _aar("inbox", run, "--json", *extra, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute(sql).fetchall()


def _kill_9(paths: RunPaths) -> None:
    pid = holder_pid(paths.lock)
    assert pid and pid > 0
    os.kill(pid, signal.SIGKILL)
    eventually_sync(lambda: holder_pid(paths.lock) is None, what="the lock to be released")


async def _issue(db: Path, command: Command, target: str) -> int:
    async with await RunStore.open(db) as store:
        return await store.issue_command(command, target)


def _applied(db: Path, command_id: int) -> bool:
    return _query(db, f"SELECT status FROM commands WHERE id = {command_id}") == [("applied",)]


def test_inbox_and_a_budget_move_survive_kill_9_and_resume(tmp_path: Path) -> None:
    started = _aar(
        "run",
        str(EXAMPLES / "demo.toml"),
        "--no-attach",
        *("--set", "team.count=2", "--set", "team.pace_s=0.1", "--set", "team.approval=true"),
        *("--set", "team.budget.dollars=5", "--set", "evaluator.seeds=1"),
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    (root,) = (tmp_path / "runs").iterdir()
    paths, run = RunPaths(root), root.name
    try:
        items = eventually_sync(
            lambda: len(_inbox(run, tmp_path)) >= 2 and _inbox(run, tmp_path), what="two approvals waiting"
        )
        assert {(i["kind"], i["rank_name"]) for i in items} == {("approval", "blocking")}
        first = items[0]
        acked = _aar("inbox", run, "--ack", str(first["id"]), cwd=tmp_path)
        assert acked.stdout.startswith("acknowledged 1 item(s)")
        before = {i["source_event"]: i for i in _inbox(run, tmp_path, "--all")}
        # What the store keeps, item by item: the listing groups items by subject at read time, and a resumed
        # agent that asks again for the same call joins its group (standing for it), so rows are not compared.
        items_before = set(_query(paths.db, "SELECT source_event FROM inbox"))
        acks_before = _query(paths.db, "SELECT source_event, by, ts FROM inbox_acks ORDER BY source_event")

        # The daemon dies between the command and its apply: frozen, the command written, then killed.
        pid = holder_pid(paths.lock)
        assert pid and pid > 0
        os.kill(pid, signal.SIGSTOP)
        command_id = asyncio.run(_issue(paths.db, Budget(resource="dollars", amount=1.0, source="agent-1"), "agent-2"))
        _kill_9(paths)
        assert _query(paths.db, f"SELECT status FROM commands WHERE id = {command_id}") == [("pending",)]

        resumed = _aar("resume", run, "--no-attach", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        eventually_sync(lambda: _applied(paths.db, command_id), what="the budget move to apply")
        # A second crash and resume must not apply it again: checked once the resumed daemon's poller has
        # applied a command written after the resume (commands apply in order, so it has seen the move by then).
        _kill_9(paths)
        assert _aar("resume", run, "--no-attach", cwd=tmp_path).returncode == 0
        marker = asyncio.run(_issue(paths.db, Resume(), "agent-1"))
        eventually_sync(lambda: _applied(paths.db, marker), what="the resumed daemon to apply a later command")

        changes = _query(paths.db, "SELECT command_id, agent, resource, delta, source FROM budget_changes ORDER BY id")
        assert changes == [
            (command_id, "agent-2", "dollars", 1.0, "agent-1"),
            (command_id, "agent-1", "dollars", -1.0, "agent-2"),
        ]
        assert items_before <= set(_query(paths.db, "SELECT source_event FROM inbox")), "an inbox item was lost"
        acks_after = _query(paths.db, "SELECT source_event, by, ts FROM inbox_acks ORDER BY source_event")
        assert set(acks_before) <= set(acks_after), "an acknowledgement was lost"
        was = before[first["source_event"]]
        assert was["ack_by"].endswith("(aar inbox)") and was["ack_ts"]
        assert (first["source_event"], was["ack_by"], was["ack_ts"]) in acks_after
        open_now = _inbox(run, tmp_path)
        assert any(i["kind"] == "warning" and "died; resuming" in i["summary"] for i in open_now)
        report = json.loads(_aar("report", run, "--format", "json", cwd=tmp_path).stdout)
        assert [(c["agent"], c["delta"]) for c in report["budget_changes"]] == [("agent-2", 1.0), ("agent-1", -1.0)]
    finally:
        _aar("stop", run, cwd=tmp_path)
