"""The disk guard pauses the running agents when the run's disk falls under its reserve, says how much space
is needed, and resumes those it paused (not one the supervisor paused) once half as much again is free."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aar.disk import DISK_META, MB, Ballast, DiskSignal, is_disk_full
from aar.events import AgentStepCompleted, DiskBack, DiskLow, ErrorRaised
from aar.store import RunStore
from agents.agent_state import AgentControl
from agents.backend import ModelRequest
from agents.disk_guard import REASON, DiskGuard
from agents.team import run_team
from tests.agents.helpers import Playbook, config, events, factory, run_context, tool, turns_of
from tests.support import FakeClock, eventually


def paused(control: AgentControl) -> bool:
    """Read afresh: mypy would keep an attribute narrowed by an earlier assert across ``guard.check()``."""
    return control.paused


async def test_the_team_pauses_on_a_full_disk_and_goes_on_when_space_is_back(store: RunStore, tmp_path: Path) -> None:
    controls = {name: AgentControl(name) for name in ("agent-1", "agent-2", "agent-3")}
    controls["agent-3"].pause("")  # the supervisor's own pause
    ended = AgentControl("agent-4")
    ended.ended = True
    controls["agent-4"] = ended
    free = [500 * MB]
    guard = DiskGuard(tmp_path, controls, store, reserve_mb=100, free=lambda path: free[0])

    await guard.check()
    assert not any(c.paused for n, c in controls.items() if n != "agent-3")

    free[0] = 40 * MB
    await guard.check()
    assert [n for n, c in controls.items() if c.paused and c.pause_reason == REASON] == ["agent-1", "agent-2"]
    assert controls["agent-3"].paused and not ended.paused

    free[0] = 120 * MB  # over the reserve, not yet half as much again: still waiting
    await guard.check()
    assert controls["agent-1"].paused

    free[0] = 150 * MB
    await guard.check()
    assert not paused(controls["agent-1"]) and not paused(controls["agent-2"])
    assert controls["agent-3"].paused, "the supervisor's pause is the supervisor's to lift"

    low = [e.payload for e in await events(store, DiskLow)]
    assert low == [
        DiskLow(path=str(tmp_path), free_mb=40.0, reserve_mb=100.0, need_mb=110.0, cause="under the 100 MB reserve")
    ]
    [back] = [e.payload for e in await events(store, DiskBack)]
    assert back.free_mb == 150.0 and back.path == str(tmp_path)
    assert await store.get_meta(DISK_META) == "", "the standing warning is gone once space is back"


async def test_a_reserve_of_zero_turns_the_look_at_free_space_off(store: RunStore, tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, {"agent-1": AgentControl("agent-1")}, store, reserve_mb=0, free=lambda path: 0)
    await guard.check()
    assert not guard.full, "no reserve: only a failed write pauses the team"


async def test_the_standing_warning_says_how_much_space_is_needed(store: RunStore, tmp_path: Path) -> None:
    free = [10 * MB]
    guard = DiskGuard(tmp_path, {"agent-1": AgentControl("agent-1")}, store, reserve_mb=100, free=lambda p: free[0])
    await guard.check()
    standing = await store.get_meta(DISK_META)
    assert standing is not None and DiskLow.model_validate_json(standing).need_mb == 140.0
    await guard.check()  # still full: one warning, not one per look
    assert len(await events(store, DiskLow)) == 1


async def test_the_ballast_is_given_back_when_the_disk_fills_and_taken_again_after(
    store: RunStore, tmp_path: Path
) -> None:
    free = [500 * MB]
    ballast = Ballast(tmp_path, size_mb=1)
    guard = DiskGuard(tmp_path, {}, store, reserve_mb=100, ballast=ballast, free=lambda p: free[0])
    await guard.check()
    assert ballast.path.stat().st_blocks * 512 >= MB, "its blocks are allocated, not only its length"
    free[0] = 0
    await guard.check()
    assert not ballast.path.exists()
    free[0] = 500 * MB
    await guard.check()
    assert ballast.held


async def test_a_failed_write_pauses_the_team_at_once_and_its_writer_waits_for_space(
    store: RunStore, tmp_path: Path
) -> None:
    """With no reserve the free space alone pauses nothing; a writer's report of a full disk does, at once, and
    the writer's wait ends only once space is back."""
    controls = {"agent-1": AgentControl("agent-1")}
    signal = DiskSignal()
    clock = FakeClock()
    free = [0]
    guard = DiskGuard(tmp_path, controls, store, reserve_mb=0, signal=signal, free=lambda p: free[0], clock=clock)
    watching = asyncio.create_task(guard.run())
    try:
        await eventually(lambda: signal.guarded, what="the guard to watch")
        full = sqlite3.OperationalError("database or disk is full")
        waiting = asyncio.create_task(signal.wait_for_space("agent-1's step 3", full))
        await eventually(lambda: controls["agent-1"].paused, what="the team to pause on the report")
        [low] = [e.payload for e in await events(store, DiskLow)]
        assert low.cause == "a write failed (agent-1's step 3: OperationalError: database or disk is full)"
        assert not waiting.done(), "the writer waits while the disk is full"
        assert not controls["agent-1"].paused or guard.full
        clock.advance(5)  # the next look: still no space back
        await asyncio.sleep(0.05)
        assert not waiting.done()
        free[0] = 500 * MB
        signal.report("agent-1's step 3", full)  # another look, now with room: the team goes on
        await asyncio.wait_for(waiting, 10)
        assert not controls["agent-1"].paused
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert not signal.guarded


async def test_with_no_guard_a_writer_gets_its_failure_back_at_once() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match="No space left"):
        await DiskSignal().wait_for_space("a test", full)


def test_a_full_disk_is_told_from_other_failures(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "tiny.db")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 2")  # a store that cannot grow: SQLite's own SQLITE_FULL
    with pytest.raises(sqlite3.OperationalError) as raised:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert is_disk_full(raised.value)
    assert is_disk_full(RuntimeError("wrapped")) is False
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("the sandbox could not write") from exc
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped), "a failure raised from a full disk is one"
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


async def test_a_step_whose_commit_meets_a_full_store_waits_and_is_committed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite itself refuses the commit of step 2 (``SQLITE_FULL``: the store may not grow); the agent does not
    fail: the guard pauses the team, and once there is room the step commits, with its events, and the agent
    goes on to finish. Nothing is lost or written twice."""
    free = [500 * MB]
    monkeypatch.setattr("agents.disk_guard.free_bytes", lambda path: free[0])
    async with run_context(tmp_path, config(run={"max_steps": 10, "disk_reserve_mb": 0})) as ctx:
        db = ctx.store._db
        loop = asyncio.get_running_loop()
        chores: list[asyncio.Task[None]] = []

        async def room() -> None:
            await db.execute("PRAGMA max_page_count = 1073741823")
            free[0] = 500 * MB

        async def fill() -> None:
            (pages,) = await (await db.execute("PRAGMA page_count")).fetchone() or (0,)
            await db.execute(f"PRAGMA max_page_count = {pages}")
            free[0] = 0
            loop.call_later(1.0, lambda: chores.append(loop.create_task(room())))

        def policy(request: ModelRequest) -> list[dict[str, Any]]:
            n = turns_of(request)
            if n == 1:
                chores.append(loop.create_task(fill()))  # the disk fills while step 2 is thought
            if n < 4:
                return [tool("bash", f"c{n}", command=f"echo step {n} {'x' * 5000}")]
            return [tool("finish", "done", summary="four steps")]

        await run_team(ctx, backend_factory=factory(Playbook(policy, delay_s=0.2)))
        agent = await ctx.store.agent("agent-1")
        rows = await ctx.store.transcript("agent-1")
        steps = [e.payload.step for e in await events(ctx.store, AgentStepCompleted)]
        low = [e.payload for e in await events(ctx.store, DiskLow)]
        back = await events(ctx.store, DiskBack)
        errors = await events(ctx.store, ErrorRaised)

    assert agent is not None and agent.status == "finished" and agent.steps == 5, agent
    assert [(r.step, r.role) for r in rows][1:] == [(s, role) for s in range(1, 6) for role in ("assistant", "user")]
    assert steps == [1, 2, 3, 4, 5], "each step's event once"
    assert len(low) == 1 and low[0].cause.startswith("a write failed ("), low
    assert len(back) == 1 and errors == []
