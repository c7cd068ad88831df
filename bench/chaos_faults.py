"""The chaos bench's faults: each a function of the live run that does one harmful thing and says what.

A fault that has nothing to act on (no sandbox command running, a run without
Docker) raises ``Skip`` with the reason; the bench counts it apart from the
faults that fired. ``FAULTS`` lists them all; ``on`` says whether a run gets
it by default. A fault the daemon cannot survive yet stays in the list, off,
and ``--faults`` switches it on by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aar.commands import Budget, Command, Pause, Redirect, Resume
from aar.lock import holder_pid
from aar.runtime import RunPaths
from aar.store import RunStore
from bench import chaos_procs as procs
from bench.chaos_api import ChaosApi

DOCKER_STOP_S = 60.0
"""How long the Docker engine may take to stop, and then to answer again, when it is restarted."""
DOCKERD_LOG = "/tmp/aar-dockerd.log"
"""Where a restarted ``dockerd`` writes (where ``scripts/test`` starts it)."""
API_REFUSED_S = 20.0
"""How long the API refuses connections."""
DISK_FULL_S = 30.0
"""How long the run's disk stays full."""
WORKER_GRACE_S = 5.0
"""How long a killed daemon's helpers (evaluator worker, sandboxes) may outlive it."""
RELEASE_TIMEOUT_S = 30.0
"""How long a killed daemon's lock may take to be free."""
TUI_ATTACHED_S = 8.0
"""How long each headless TUI stays attached."""


class Skip(Exception):
    """The fault has nothing to act on now; the message says why."""


class LiveRun(Protocol):
    """What a fault may use of the bench's run."""

    paths: RunPaths
    rng: random.Random
    api: ChaosApi | None
    agents: list[str]
    tuis: list[subprocess.Popen[bytes]]
    timers: list[threading.Timer]
    problems: list[str]
    resumes: int

    def aar(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]: ...

    def daemon(self) -> procs.Proc | None: ...

    def watch(self) -> None: ...


@dataclass(frozen=True)
class Fault:
    name: str
    act: Callable[[LiveRun], str]
    on: bool = True
    """Part of a run unless switched off; off: only when ``--faults`` names it."""
    load: bool = False
    """Not a fault but work a supervisor does; counted apart from the faults."""
    doc: str = field(default="")


def _daemon(run: LiveRun) -> procs.Proc:
    daemon = run.daemon()
    if daemon is None:
        raise Skip("no daemon is running")
    return daemon


def _resume(run: LiveRun) -> str:
    """``aar resume`` once the lock is free; a resume that fails is a problem the bench reports."""
    deadline = time.monotonic() + RELEASE_TIMEOUT_S
    while holder_pid(run.paths.lock) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    resumed = run.aar("resume", run.paths.run_id, "--no-attach")
    run.resumes += 1
    if resumed.returncode != 0:
        run.problems.append(f"aar resume failed (exit {resumed.returncode}): {resumed.stderr.strip()[-500:]}")
        return "resume failed"
    return "resumed"


def _outlived(helpers: list[procs.Proc], what: str, run: LiveRun) -> None:
    """Helpers of a dead daemon must end within ``WORKER_GRACE_S``; those that do not are a problem (and are
    killed, so the run goes on as the daemon's successor expects)."""
    deadline = time.monotonic() + WORKER_GRACE_S
    while time.monotonic() < deadline and any(h.alive() for h in helpers):
        time.sleep(0.1)
    for h in helpers:
        if h.alive():
            run.problems.append(
                f"pid {h.pid} ({h.cmdline()[:120]}) outlived its daemon ({what}) by more than {WORKER_GRACE_S:g}s"
            )
            procs.kill(h)


def daemon_kill9(run: LiveRun) -> str:
    daemon = _daemon(run)
    run.watch()
    helpers = procs.descendants(daemon.pid)
    procs.kill(daemon)
    _outlived(helpers, "kill -9", run)
    return f"daemon pid {daemon.pid} killed, {_resume(run)}"


def daemon_freeze_kill9(run: LiveRun) -> str:
    """The daemon is stopped, then killed while stopped: its worker, which hears nothing from it either way,
    must still end within ``WORKER_GRACE_S``."""
    daemon = _daemon(run)
    run.watch()
    helpers = procs.descendants(daemon.pid)
    procs.kill(daemon, signal.SIGSTOP)
    time.sleep(run.rng.uniform(2.0, 5.0))
    procs.kill(daemon)
    _outlived(helpers, "SIGSTOP, then kill -9", run)
    return f"daemon pid {daemon.pid} stopped, then killed; {_resume(run)}"


def daemon_freeze(run: LiveRun) -> str:
    daemon = _daemon(run)
    frozen = run.rng.uniform(3.0, 8.0)
    procs.kill(daemon, signal.SIGSTOP)
    try:
        time.sleep(frozen)
    finally:
        procs.kill(daemon, signal.SIGCONT)
    return f"daemon pid {daemon.pid} stopped for {frozen:.1f}s, then continued"


def _worker(run: LiveRun) -> procs.Proc:
    daemon = _daemon(run)
    workers = [p for p in procs.descendants(daemon.pid) if "spawn_main" in p.cmdline() and p.ppid == daemon.pid]
    if not workers:
        raise Skip("the daemon has no evaluator worker")
    return run.rng.choice(workers)


def worker_kill9(run: LiveRun) -> str:
    worker = _worker(run)
    procs.kill(worker)
    return f"evaluator worker pid {worker.pid} killed"


def sandbox_kill9(run: LiveRun) -> str:
    daemon = _daemon(run)
    leaders = [p for p in procs.descendants(daemon.pid) if p.name == "bwrap"]
    if not leaders:
        raise Skip("no sandbox command is running")
    leader = run.rng.choice(leaders)
    procs.kill_group(leader)
    return f"sandbox process group {leader.pid} killed"


def docker_kill(run: LiveRun) -> str:
    if shutil.which("docker") is None:
        raise Skip("no docker command")
    listed = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=aar.workspace={run.paths.workspaces}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    ids = listed.stdout.split()
    mine = [c for c in ids if c] or _containers_under(run.paths.root)
    if not mine:
        raise Skip("the run has no docker container")
    victim = run.rng.choice(mine)
    subprocess.run(["docker", "kill", victim], capture_output=True, timeout=30)
    return f"container {victim[:12]} killed"


def _containers_under(root: Path) -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-q", "--filter", "label=aar.workspace"], capture_output=True, text=True, timeout=30
    )
    out = []
    for cid in listed.stdout.split():
        seen = subprocess.run(
            ["docker", "inspect", "--format", '{{index .Config.Labels "aar.workspace"}}', cid],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if seen.stdout.strip().startswith(str(root)):
            out.append(cid)
    return out


def docker_restart(run: LiveRun) -> str:
    """The engine restarted: by ``AAR_CHAOS_DOCKER_RESTART`` when it is set (``service docker restart`` under
    a service manager), else the running ``dockerd`` stopped with SIGTERM and started again with the same
    command line (one started by hand, as ``scripts/test`` starts it). Waits until the engine answers."""
    command = os.environ.get("AAR_CHAOS_DOCKER_RESTART")
    if command:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise Skip(f"{command!r} failed: {done.stderr.strip()[-200:]}")
        how = command
    else:
        engines = [p for p in procs.all_procs() if p.name == "dockerd"]
        if len(engines) != 1:
            raise Skip(f"{len(engines)} dockerd processes; set AAR_CHAOS_DOCKER_RESTART to restart the engine")
        (engine,) = engines
        if os.geteuid() != 0:
            raise Skip("restarting a dockerd needs root (or AAR_CHAOS_DOCKER_RESTART)")
        argv = [a.decode() for a in Path(f"/proc/{engine.pid}/cmdline").read_bytes().split(b"\0") if a]
        procs.kill(engine, signal.SIGTERM)
        if not _gone(engine, DOCKER_STOP_S):
            procs.kill(engine)
        log = open(DOCKERD_LOG, "ab")  # noqa: SIM115 (the new engine keeps it)
        subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        how = f"SIGTERM to dockerd {engine.pid}, then {' '.join(argv)}"
    deadline = time.monotonic() + DOCKER_STOP_S
    while subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Docker engine did not answer {DOCKER_STOP_S:g} s after its restart ({how})")
        time.sleep(0.5)
    return f"docker engine restarted ({how})"


def _gone(proc: procs.Proc, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while proc.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def api_refuse(run: LiveRun) -> str:
    api = run.api
    if api is None:
        raise Skip("no agent uses the Anthropic backend")
    if any(t.name == "api-listen" and t.is_alive() for t in run.timers):
        raise Skip("the API already refuses connections")
    api.refuse()
    timer = threading.Timer(API_REFUSED_S, api.listen)
    timer.name = "api-listen"
    timer.start()
    run.timers.append(timer)
    return f"API refuses connections for {API_REFUSED_S:g}s"


def disk_fill(run: LiveRun) -> str:
    if any(t.name == "disk-free" and t.is_alive() for t in run.timers):
        raise Skip("the disk is already full")
    filler = run.paths.root.parent / ".chaos-filler"
    free = shutil.disk_usage(run.paths.root).free
    if free > 4 * 2**30:
        raise Skip(f"the run's disk has {free / 2**30:.0f} GiB free: give the bench a small runs_dir (--disk-fill)")
    with open(filler, "wb") as f, contextlib.suppress(OSError):  # full before it was all allocated: full
        os.posix_fallocate(f.fileno(), 0, free)
    timer = threading.Timer(DISK_FULL_S, lambda: filler.unlink(missing_ok=True))
    timer.name = "disk-free"
    timer.start()
    run.timers.append(timer)
    return f"disk filled ({free / 2**20:.0f} MiB) for {DISK_FULL_S:g}s"


def tui_attach(run: LiveRun) -> str:
    for _ in range(2):
        run.tuis.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("chaos.py")), "--tui", str(run.paths.root)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ},
            )
        )
    return f"two TUIs attach for {TUI_ATTACHED_S:g}s"


MALFORMED_EVENTS: tuple[tuple[str, str], ...] = (
    ("agent.ask", '{"kind": "agent.ask", "question": "cut off'),
    ("agent.ask", '{"kind": "agent.ask", "step": 1}'),
    ("agent.dream", '{"kind": "agent.dream", "of": "sheep"}'),
    ("tool.result", "[1, 2, 3]"),
)
MALFORMED_COMMANDS: tuple[tuple[str, str], ...] = (
    ("teleport", "{}"),
    ("redirect", "{not json"),
    ("budget", '{"resource": "dollars"}'),
    ("pause", '["a", "list"]'),
)


def _insert(run: LiveRun, sql: str, args: tuple[object, ...]) -> int:
    with sqlite3.connect(run.paths.db, timeout=30) as db:
        cur = db.execute(sql, args)
        row_id = cur.lastrowid
    db.close()
    return int(row_id or 0)


def malformed_event(run: LiveRun) -> str:
    kind, payload = run.rng.choice(MALFORMED_EVENTS)
    agent = run.rng.choice(run.agents)
    event_id = _insert(
        run, "INSERT INTO events (ts, agent, kind, payload) VALUES (?, ?, ?, ?)", (time.time(), agent, kind, payload)
    )
    return f"event {event_id} ({kind}) written with payload {payload!r}"


def malformed_command(run: LiveRun) -> str:
    kind, payload = run.rng.choice(MALFORMED_COMMANDS)
    target = run.rng.choice(run.agents)
    command_id = _insert(
        run,
        "INSERT INTO commands (ts, target, kind, payload) VALUES (?, ?, ?, ?)",
        (time.time(), target, kind, payload),
    )
    return f"command {command_id} ({kind} to {target}) written with payload {payload!r}"


def supervisor(run: LiveRun) -> str:
    """Not a fault: the commands a supervisor sends (pause and resume, a redirect, a budget raise), so the
    invariants on commands and budgets have something to check."""
    agent = run.rng.choice(run.agents)
    claude = [a for a in run.agents if a.startswith("claude")]
    commands: list[tuple[Command, str]] = [
        (Pause(reason="chaos: a supervisor pause"), agent),
        (Redirect(text="Supervisor: keep going with what you were doing."), agent),
        (Resume(), agent),
    ]
    if claude:
        commands.append((Budget(resource="dollars", amount=0.5), run.rng.choice(claude)))

    async def issue() -> list[int]:
        async with await RunStore.open(run.paths.db) as store:
            return [await store.issue_command(c, target) for c, target in commands]

    ids = asyncio.run(issue())
    return "commands " + ", ".join(f"{c.kind}->{t} #{i}" for (c, t), i in zip(commands, ids, strict=True))


FAULTS: tuple[Fault, ...] = (
    Fault("daemon_kill9", daemon_kill9, doc="kill -9 of the daemon, then `aar resume`"),
    Fault("worker_kill9", worker_kill9, doc="kill -9 of an evaluator worker"),
    Fault("sandbox_kill9", sandbox_kill9, doc="kill -9 of a sandbox command's process group"),
    Fault("docker_kill", docker_kill, doc="`docker kill` of one of the run's containers (docker sandboxes only)"),
    Fault("daemon_freeze", daemon_freeze, doc="SIGSTOP of the daemon for 3-8 s, then SIGCONT"),
    Fault("api_refuse", api_refuse, doc=f"the API server refuses connections for {API_REFUSED_S:g} s"),
    Fault("tui_attach", tui_attach, doc="two headless TUIs attach, then detach"),
    Fault("malformed_event", malformed_event, doc="a malformed event written straight into the store"),
    Fault("malformed_command", malformed_command, doc="a malformed command row written straight into the store"),
    Fault(
        "supervisor",
        supervisor,
        load=True,
        doc="a supervisor's pause, redirect, resume and budget raise (load, not a fault)",
    ),
    Fault(
        "daemon_freeze_kill9",
        daemon_freeze_kill9,
        doc="SIGSTOP of the daemon, kill -9 while it is stopped, then `aar resume`",
    ),
    Fault("docker_restart", docker_restart, on=False, doc="the Docker engine restarted (--docker-restart)"),
    Fault("disk_fill", disk_fill, on=False, doc=f"the run's disk filled for {DISK_FULL_S:g} s (--disk-fill)"),
)
BY_NAME = {f.name: f for f in FAULTS}


def describe() -> str:
    return "\n".join(f"  {f.name:<20} {'on ' if f.on else 'off'} {f.doc}" for f in FAULTS)


def loads(text: str) -> list[str]:
    """A ``--faults`` value: names separated by commas; ``all`` is every fault."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return [f.name for f in FAULTS]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown fault {', '.join(map(json.dumps, unknown))}; one of {', '.join(BY_NAME)}")
    return names
