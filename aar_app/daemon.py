"""The daemon: the one process that drives a run.

``aar run`` starts it detached (its own session, so it outlives the terminal
and an SSH drop; its output goes to ``logs/daemon.log``); ``--headless``
runs it in the foreground. It holds the run's lock, prepares the agents'
workspaces, runs the evaluator service and the team side by side, keeps the supervisor's
inbox up with the event log, and records every state change. Killed at any moment, it leaves a store that
``aar resume`` continues from.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aar import checkpoint, inbox, notify, pulse, search
from aar.config import load_config
from aar.errors import AarError
from aar.events import ModelText, RunLog, RunState, RunStateChanged
from aar.lock import DaemonLock
from aar.runtime import RunContext, RunPaths
from aar.store import EventRow, RunStore
from aar.tasks import CRASH, Restart
from evaluator.daemon.transfer import transfer_command

log = logging.getLogger("aar.daemon")

SHUTDOWN_GRACE_S = 30.0
"""How long the evaluator and the team get to stop on their own before they are cancelled."""
EVALUATOR_POLICY = Restart(backoff_s=1.0, max_restarts=5)
"""The evaluator service puts a running job back in the queue when it ends: starting it again loses nothing."""
MONITORS_POLICY = Restart(backoff_s=0.5, max_restarts=5)
"""The monitors keep their rules' state and hear the stream while they wait to start again."""
INBOX_POLICY = Restart(backoff_s=0.25, max_restarts=10)
"""The inbox, the search index and replay's checkpoints are derived from the store: a fold that failed is
folded again."""
PRINTER_POLICY = Restart(backoff_s=0.25, max_restarts=10)
"""The headless printer keeps its place in the log."""
PULSE_POLICY = Restart(backoff_s=1.0, max_restarts=10)
"""The daemon's heartbeat only touches a file and measures its own lateness."""
DRAIN_TIMEOUT_S = 600.0
"""After the last agent finishes, how long submissions still queued may take to be scored."""


async def _set_state(store: RunStore, state: RunState, reason: str = "") -> None:
    log.info("run %s%s", state, f": {reason}" if reason else "")
    await store.set_meta("state", state)
    store.emit(None, RunStateChanged(state=state, reason=reason))
    await store.flush()


async def _drain_evaluator(store: RunStore, stop: asyncio.Event) -> None:
    """Wait until no submission or job is waiting, so the last results land before the run ends."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while not stop.is_set() and time.monotonic() < deadline:
        waiting = [s for s in await store.submissions() if s.status in ("queued", "running")]
        jobs = await store.jobs(status="queued") + await store.jobs(status="running")
        if not waiting and not jobs:
            return
        await asyncio.sleep(0.5)


class _Follower:
    """Headless mode: one line per event, from the store, as any reader would see it.

    The chunks of text an agent streams (``model.text``) are joined into one
    line, printed when that agent's next other event arrives. It keeps its place
    in the log, so run again after a failure it prints nothing twice.
    """

    def __init__(self, store: RunStore, printer: Callable[[EventRow], None], stop: asyncio.Event) -> None:
        self.store = store
        self.printer = printer
        self.stop = stop
        self.last = 0
        self.said: dict[str | None, tuple[EventRow, ModelText]] = {}

    def _print_said(self, agent: str | None) -> None:
        row, text = self.said.pop(agent)
        self.printer(row.model_copy(update={"payload": text}))

    async def run(self) -> None:
        while True:
            rows = await self.store.events_after(self.last, limit=1000)
            for row in rows:
                payload = row.payload
                if isinstance(payload, ModelText):
                    held = self.said.get(row.agent)
                    text = (held[1].text if held else "") + payload.text
                    self.said[row.agent] = (row, payload.model_copy(update={"text": text}))
                elif row.agent in self.said:
                    self._print_said(row.agent)
                    self.printer(row)
                else:
                    self.printer(row)
                self.last = row.id
            if not rows and self.stop.is_set():
                for agent in list(self.said):
                    self._print_said(agent)
                return
            await asyncio.sleep(0.1)


async def _follow(store: RunStore, printer: Callable[[EventRow], None], stop: asyncio.Event) -> None:
    """Print the log (``_Follower``) until ``stop`` and every event before it is printed."""
    await _Follower(store, printer, stop).run()


async def run_daemon(root: Path, *, printer: Callable[[EventRow], None] | None = None) -> int:
    """Drive the run at ``root`` until its agents finish or it is stopped; returns an exit code."""
    paths = RunPaths(root)
    config = load_config(paths.config)
    with DaemonLock(paths.lock) as lock:
        store = await RunStore.open(paths.db)
        ctx = RunContext(
            paths=paths, config=config, store=store, transfer=functools.partial(transfer_command, store, config)
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, ctx.stop.set)
        tasks = ctx.tasks
        follower = tasks.start("printer", _Follower(store, printer, ctx.stop).run, PRINTER_POLICY) if printer else None
        inbox_done = asyncio.Event()
        inbox_builder = tasks.start("inbox", lambda: inbox.follow(store, inbox_done), INBOX_POLICY)
        tasks.start("pulse", lambda: pulse.beat(paths.beat(pulse.DAEMON), store), PULSE_POLICY)
        indexer = tasks.start("search", lambda: search.follow(store, inbox_done), INBOX_POLICY)
        checkpoints = tasks.start("checkpoints", lambda: checkpoint.follow(store, inbox_done), INBOX_POLICY)
        notifier = (
            tasks.start("notify", lambda: notify.follow(store, config.notify, paths.run_id, inbox_done), INBOX_POLICY)
            if config.notify
            else None
        )
        previous = await store.get_meta("state", "created")
        log.info("daemon pid %d drives %s (stored state %s)", os.getpid(), paths.run_id, previous)
        await store.set_meta("daemon_pid", str(os.getpid()))
        if lock.stale_pid is not None and previous in ("starting", "running", "stopping"):
            store.emit(
                None,
                RunLog(
                    level="warning", message=f"previous daemon (pid {lock.stale_pid}) died; resuming from the store"
                ),
            )
        await _set_state(store, "starting", "resume" if previous != "created" else "")
        final_state: RunState = "stopped"
        reason = ""
        try:
            final_state, reason = await _drive(ctx)
        except AarError as exc:
            final_state, reason = "crashed", str(exc)
            store.emit(None, RunLog(level="error", message=str(exc)))
        except Exception as exc:  # the run's record must say why it ended, whatever happened
            log.exception("daemon failed")
            final_state, reason = "crashed", f"{type(exc).__name__}: {exc}"
            store.emit(None, RunLog(level="error", message=reason))
        finally:
            ctx.stop.set()
            await _set_state(store, final_state, reason)
            if follower is not None:
                await asyncio.wait({follower}, timeout=SHUTDOWN_GRACE_S)
            inbox_done.set()
            # The inbox is derived: what the last fold leaves, the next daemon folds. A failure is recorded.
            await asyncio.wait(
                {inbox_builder, indexer, checkpoints, *([notifier] if notifier else [])}, timeout=SHUTDOWN_GRACE_S
            )
            await tasks.close(timeout=0)
            await store.close()
    return 0 if final_state in ("finished", "stopped") else 1


async def _record_isolation(ctx: RunContext) -> None:
    """Refuse to drive a run whose sandboxes would have no isolation, unless its config allows it; say which."""
    from sandbox.factory import ISOLATED, check_isolation

    isolation = await asyncio.to_thread(check_isolation, ctx.config.sandbox)
    await ctx.store.set_meta("isolation", isolation)
    if isolation not in ISOLATED:
        ctx.store.emit(
            None,
            RunLog(
                level="warning",
                message='UNISOLATED run (sandbox.isolation = "none-allowed"): every score carries the unisolated flag',
            ),
        )


async def _drive(ctx: RunContext) -> tuple[RunState, str]:
    from agents.monitors import MonitorRunner
    from agents.team import run_team
    from evaluator.daemon.service import prepare_workspaces, serve

    await _record_isolation(ctx)
    await prepare_workspaces(ctx)
    await _set_state(ctx.store, "running")
    tasks = ctx.tasks
    monitors = tasks.start("monitors", MonitorRunner(ctx).run, MONITORS_POLICY)
    evaluator = tasks.start("evaluator", lambda: serve(ctx), EVALUATOR_POLICY)
    team = tasks.start("team", lambda: run_team(ctx), CRASH)
    crashed = asyncio.create_task(tasks.crashed.wait(), name="crashed")
    try:
        done, _ = await asyncio.wait({evaluator, team, crashed}, return_when=asyncio.FIRST_COMPLETED)
        if tasks.crashed.is_set():
            return "crashed", tasks.reason
        if evaluator in done and not ctx.stop.is_set():
            raise AarError("the evaluator service stopped unexpectedly")  # it only returns once stopped
        await asyncio.wait({team, crashed}, return_when=asyncio.FIRST_COMPLETED)
        if tasks.crashed.is_set():
            return "crashed", tasks.reason
        stopped = ctx.stop.is_set()
        if not stopped:
            await _set_state(ctx.store, "stopping", "every agent finished; scoring the last submissions")
            await _drain_evaluator(ctx.store, ctx.stop)
        else:
            await _set_state(ctx.store, "stopping", "stop requested")
        ctx.stop.set()
        await asyncio.wait({evaluator}, timeout=60)
        if tasks.crashed.is_set():
            return "crashed", tasks.reason
        return ("stopped", "stop requested") if stopped else ("finished", "every agent finished")
    finally:
        # Whatever ended the drive, ask every task to wind down first (the evaluator puts a running job
        # back in the queue), and cancel only what does not; what any of them raised is recorded.
        ctx.stop.set()
        crashed.cancel()
        await asyncio.wait({evaluator, team}, timeout=SHUTDOWN_GRACE_S)
        for task in (evaluator, team, monitors):
            if not task.done():
                task.cancel()
        await asyncio.wait({evaluator, team, monitors})


def spawn_detached(root: Path) -> subprocess.Popen[bytes]:
    """Start the daemon in its own session; it outlives this terminal."""
    paths = RunPaths(root)
    paths.logs.mkdir(parents=True, exist_ok=True)
    with open(paths.logs / "daemon.log", "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "aar_app.daemon", str(root)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m aar_app.daemon RUN_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run_daemon(Path(args[0]).resolve()))
    except AarError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
