"""What the control room does when the run or the store misbehaves: it says so once, keeps the screen and recovers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aar.events import CommandApplied, ModelText
from aar.runtime import RunPaths
from aar.store import RunStore
from aar.store.schema import SCHEMA_VERSION
from tests.tui.helpers import pending, screen_text, wait_for, wait_screen
from tests.tui.synthetic import build_run
from tests.unreadable import REASONS, unreadable_rows
from tui.app import AarApp
from tui.model import RunModel
from tui.service import RunClient


@pytest.mark.slow
async def test_an_unreadable_store_is_reported_once_and_the_tui_recovers(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_screen(pilot, "agent-1")
        with sqlite3.connect(run.db) as conn:  # another process breaks the store under the TUI
            conn.execute("ALTER TABLE events RENAME TO events_moved")
        text = await wait_screen(pilot, "! cannot read the run store: OperationalError")
        await pilot.pause(1.5)  # ~6 failed polls at the backed-off pace, but one toast
        assert app.poll_failures >= 3
        assert screen_text(app).count("retrying") == 1, text
        with sqlite3.connect(run.db) as conn:
            conn.execute("ALTER TABLE events_moved RENAME TO events")
        async with await RunStore.open(run.db) as daemon:
            daemon.emit("agent-1", ModelText(step=9, text="back in business\n"))
            await daemon.flush()
        await wait_screen(pilot, "back in business", timeout=10)
        await wait_for(pilot, lambda: "cannot read the run store" not in screen_text(app).splitlines()[0])
        assert app.poll_failures == 0 and app.model.problem is None


@pytest.mark.slow
async def test_a_store_unreadable_at_attach_is_retried_until_it_reads(run: RunPaths) -> None:
    with sqlite3.connect(run.db) as conn:  # as if a newer aar were half-way through migrating it
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_screen(pilot, "! cannot read the run store: StoreError")
        await pilot.pause(1.0)
        assert app.poll_failures >= 2 and not app.has_client
        await pilot.press("b", *"hello", "enter")  # a broadcast needs no agent, only the store
        await wait_screen(pilot, "not attached to the run yet; try again in a moment")
        with sqlite3.connect(run.db) as conn:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await wait_screen(pilot, "4 agents", timeout=10)
        await wait_for(pilot, lambda: "cannot read the run store" not in screen_text(app).splitlines()[0])
        assert app.model.problem is None and app.has_client


async def test_commands_to_an_ended_run_are_refused_not_left_for_a_resume(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as daemon:
        await daemon.set_meta("state", "finished")
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_screen(pilot, "FINISHED")
        await pilot.press("p")
        await wait_screen(pilot, "the run is finished, so nothing would apply pause")
        assert await pending(run.db) == []


async def test_a_rejected_command_is_announced_as_rejected(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("3", "p")
        await wait_for(pilot, lambda: bool(app.issued))
        [command] = await pending(run.db)
        async with await RunStore.open(run.db) as daemon:
            effect = "agent-3 has already ended; nothing to do"
            await daemon.mark_command(command.id, status="rejected", effect=effect)
            daemon.emit(
                "agent-3",
                CommandApplied(
                    command_id=command.id, command="pause", target="agent-3", effect=effect, status="rejected"
                ),
            )
            await daemon.flush()
        text = await wait_screen(pilot, "⚑ pause (rejected): agent-3 has already ended")
        text = await wait_screen(pilot, "pause agent-3: agent-3 has already ended; nothing to do")  # the toast
        assert "▌ rejected" in text and "▌ applied" not in text


async def test_an_event_the_tui_cannot_read_is_noted_once_and_the_rest_still_folds(run: RunPaths) -> None:
    """A newer daemon's event, or a damaged row, gets one line in the run's log; the events around it still show."""
    client = await RunClient.open(run.root)
    try:
        model = RunModel("r")
        model.apply(await client.backlog())
        async with await RunStore.open(run.db) as daemon:
            daemon.emit_raw(
                [
                    (None, "command.applied", '{"kind": "command.applied", "command": "pause"}'),
                    *unreadable_rows("agent.ask"),
                    ("agent-1", "model.text", ModelText(step=1, text="still here").model_dump_json()),
                ]
            )
            last = await daemon.flush()
        changes = model.apply(await client.poll())
        assert changes.status and model.last_event_id == last
        broken, *others = (line.text for line in model.log.last(4))
        missing = "command_id: Field required; target: Field required; effect: Field required"
        assert broken == f"event {last - 4} (command.applied) unreadable: {missing}"
        kinds = ["agent.ask", "agent.dream", "agent.ask"]
        for n, (line, kind, reason) in enumerate(zip(others, kinds, REASONS, strict=True)):
            assert line.startswith(f"event {last - 3 + n} ({kind}) unreadable: ") and reason in line, line
            assert "\n" not in line
        assert model.agents["agent-1"].tail.lines[-1].text == "still here"
        model.apply(await client.poll())
        assert [line.text for line in model.log.last(4)] == [broken, *others], "noted once, not at every poll"
    finally:
        await client.close()


HOLD_LOCK = """
import sys, time
from pathlib import Path
from aar.lock import DaemonLock
DaemonLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(600)  # a live daemon's process: it holds the lock until the test kills it
"""


async def test_a_daemon_killed_with_sigkill_shows_as_crashed_and_commands_are_refused(tmp_path: Path) -> None:
    """A daemon killed by -9 leaves ``running`` in the store; the lock, which the kernel drops, tells the truth."""
    run = await build_run(tmp_path / "run")
    daemon = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run.lock)], stdout=subprocess.PIPE)
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == b"held\n"
        app = AarApp(run.root)
        async with app.run_test(size=(120, 30), notifications=True) as pilot:
            await wait_screen(pilot, "RUNNING")
            await pilot.press("p")
            await wait_for(pilot, lambda: bool(app.issued))  # a live daemon's run takes commands
            daemon.kill()
            daemon.wait()
            text = await wait_screen(pilot, "CRASHED")
            # not the THINKING (or WAITING APPROVAL) their rows still say; panes redraw in turn
            await wait_for(pilot, lambda: screen_text(app).count("NO DAEMON") == 4)
            assert "THINKING" not in screen_text(app)
            text = await wait_screen(pilot, "`aar resume demo-20260101-000000`")
            assert text.count("daemon is gone") == 1
            await pilot.press("r")
            await wait_screen(pilot, "the run is crashed, so nothing would apply resume")
            assert [c.kind for c in await pending(run.db)] == ["pause"]
    finally:
        daemon.kill()
        daemon.wait()
