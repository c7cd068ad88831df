"""The daemon's task supervisor: each failure is an ``error`` event; ``Restart`` starts the task again with a
doubling backoff and ends the run past its limit, ``Crash`` ends it at once, and a task failing while the
run stops, or raising when it is cancelled, is recorded, never swallowed."""

from __future__ import annotations

import asyncio
import sqlite3

from aar.disk import DiskSignal
from aar.errors import AarError
from aar.events import ErrorRaised
from aar.store import RunStore
from aar.tasks import CRASH, FULL_DISK_RETRY_S, Restart, TaskSupervisor
from tests.agents.helpers import events
from tests.support import FakeClock, eventually


async def _messages(store: RunStore) -> list[str]:
    return [e.payload.message for e in await events(store, ErrorRaised)]


async def test_restart_backs_off_doubling_then_ends_the_run_past_its_limit(store: RunStore, clock: FakeClock) -> None:
    tasks = TaskSupervisor(store, clock=clock)
    runs = 0

    async def fails() -> None:
        nonlocal runs
        runs += 1
        raise ValueError(f"bad {runs}")

    task = tasks.start("inbox", fails, Restart(backoff_s=1, max_backoff_s=3, max_restarts=3, window_s=100))
    for n, wait in ((1, 1), (2, 2), (3, 3)):

        def failed_and_waits(n: int = n) -> bool:
            return runs == n and clock.sleepers == 1

        await eventually(failed_and_waits, what=f"failure {n} and its backoff")
        clock.advance(wait)
    await asyncio.wait_for(task, 10)
    assert runs == 4 and tasks.crashed.is_set()
    assert tasks.reason == "task inbox failed 4 times in 100s, the last: ValueError: bad 4"
    assert await _messages(store) == [
        "task inbox failed: ValueError: bad 1; restarting in 1s",
        "task inbox failed: ValueError: bad 2; restarting in 2s",
        "task inbox failed: ValueError: bad 3; restarting in 3s",
        "task inbox failed 4 times in 100s, the last: ValueError: bad 4; the run ends",
    ]


async def test_failures_older_than_the_window_are_forgiven(store: RunStore, clock: FakeClock) -> None:
    tasks = TaskSupervisor(store, clock=clock)
    runs = 0

    async def fails_now_and_then() -> None:
        nonlocal runs
        runs += 1
        await clock.sleep(50)  # it ran a while
        raise ValueError("again")

    task = tasks.start("poller", fails_now_and_then, Restart(backoff_s=1, max_restarts=1, window_s=30))
    for _ in range(3):
        await eventually(lambda: clock.sleepers == 1)
        clock.advance(50)
        await eventually(lambda: clock.sleepers == 1)
        clock.advance(1)
    await eventually(lambda: runs == 4)
    assert not tasks.crashed.is_set() and tasks.failures["poller"] == 3
    task.cancel()
    await asyncio.wait({task})


async def test_crash_ends_the_run_at_the_first_failure_and_a_task_that_returns_is_done(store: RunStore) -> None:
    tasks = TaskSupervisor(store)

    async def done() -> None:
        return None

    async def fails() -> None:
        raise KeyError("agent-9")

    await tasks.start("printer", done, Restart())  # a task that returns is done, not restarted
    await tasks.start("team", fails, CRASH)
    assert tasks.crashed.is_set() and tasks.reason == "task team failed: KeyError: 'agent-9'"
    assert tasks.starts == {"printer": 1, "team": 1}
    assert await _messages(store) == ["task team failed: KeyError: 'agent-9'; the run ends"]


async def test_a_failure_while_the_run_stops_is_recorded_and_not_restarted(store: RunStore) -> None:
    stopping = asyncio.Event()
    tasks = TaskSupervisor(store, stopping=stopping)
    stopping.set()

    async def fails() -> None:
        raise OSError("disk gone")

    await tasks.start("evaluator", fails, Restart())
    assert tasks.starts["evaluator"] == 1 and not tasks.crashed.is_set()
    assert await _messages(store) == ["task evaluator failed while the run stopped: OSError: disk gone"]


async def test_close_cancels_what_runs_and_records_what_it_raised(store: RunStore) -> None:
    tasks = TaskSupervisor(store)
    started = asyncio.Event()

    async def raises_when_cancelled() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("cleanup failed")

    tasks.start("monitors", raises_when_cancelled, Restart())
    await started.wait()
    await tasks.close(timeout=0)
    assert await _messages(store) == ["task monitors failed while the run stopped: RuntimeError: cleanup failed"]


async def test_an_error_the_user_can_act_on_is_its_own_message(store: RunStore) -> None:
    tasks = TaskSupervisor(store)

    async def no_key() -> None:
        raise AarError("anthropic: $ANTHROPIC_API_KEY is not set")

    await tasks.start("team", no_key, CRASH)
    assert tasks.reason == "task team failed: anthropic: $ANTHROPIC_API_KEY is not set"


async def test_a_task_that_meets_a_full_disk_waits_for_space_and_starts_again_without_an_error(
    store: RunStore, clock: FakeClock
) -> None:
    """The disk guard says the disk is full (one inbox item for the run); a task that failed for it is not a
    failure of its own: it waits for the guard's look (which gives back the ballast), then starts again, with
    no error and no restart counted."""
    disk = DiskSignal()
    disk.watch(True)  # a guard watches
    tasks = TaskSupervisor(store, disk=disk, clock=clock)
    runs = 0

    async def folds() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise sqlite3.OperationalError("database or disk is full")

    task = tasks.start("inbox", folds, Restart(max_restarts=0))
    await eventually(lambda: disk.take_failure()[1] == 1, what="the full disk reported")
    assert runs == 1 and not task.done(), "the task waits for the guard's look"
    disk.judged(1, full=True)  # the guard looked: the team is paused, the ballast given back
    await eventually(lambda: clock.sleepers == 1, what="the task's short wait before it starts again")
    assert runs == 1
    clock.advance(FULL_DISK_RETRY_S)
    await asyncio.wait_for(task, 10)
    assert runs == 2 and not tasks.crashed.is_set() and tasks.failures == {}
    assert await _messages(store) == []


async def test_with_no_guard_a_full_disk_is_a_failure_like_any_other(store: RunStore) -> None:
    tasks = TaskSupervisor(store, disk=DiskSignal())

    async def fails() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    await asyncio.wait_for(tasks.start("inbox", fails, CRASH), 10)
    assert tasks.crashed.is_set()
    assert await _messages(store) == ["task inbox failed: OperationalError: database or disk is full; the run ends"]
