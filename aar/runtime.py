"""What one run is on disk, and what the daemon hands to the parts it drives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aar.clock import SYSTEM_CLOCK, Clock
from aar.config import RunConfig
from aar.disk import DiskSignal
from aar.store import RunStore
from aar.tasks import TaskSupervisor


@dataclass(frozen=True)
class RunPaths:
    """The layout of ``runs/<id>/``."""

    root: Path

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def db(self) -> Path:
        return self.root / "run.db"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def lock(self) -> Path:
        return self.root / "daemon.lock"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def workspaces(self) -> Path:
        return self.root / "workspaces"

    @property
    def evaluator_dir(self) -> Path:
        """Held-out data and the evaluator's caches: never mounted into a sandbox."""
        return self.root / "evaluator"

    @property
    def heartbeats(self) -> Path:
        """One file per evaluator worker and one for the daemon, touched every second while its loop runs."""
        return self.root / "heartbeats"

    def beat(self, name: str) -> Path:
        """The heartbeat file of ``name`` (a worker's name, or ``daemon``)."""
        return self.heartbeats / f"{name}.beat"

    def workspace(self, agent: str) -> Path:
        return self.workspaces / agent

    def make(self) -> None:
        for folder in (self.root, self.logs, self.workspaces, self.evaluator_dir):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass
class RunContext:
    """Handed by the daemon to the team and the evaluator service."""

    paths: RunPaths
    config: RunConfig
    store: RunStore
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the run must wind down (``aar stop``, a signal, the run-wide dollar cap)."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("aar.daemon"))
    commands_waiting: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by an in-process writer of commands (a monitor) so the command poller applies them now."""
    clock: Clock = SYSTEM_CLOCK
    """Time as the budget guards and the monitors read it (a test hands in one it moves by hand)."""
    disk: DiskSignal = field(default_factory=DiskSignal)
    """How a write that met a full disk tells the disk guard, and waits for space (``aar.disk``)."""
    transfer: Callable[[int], Awaitable[str]] | None = None
    """Enqueue a method's transfer jobs (a supervisor's ``transfer`` command); its effect in words, or raises an
    ``AarError`` saying why not. Set by the daemon, which knows the evaluator; None where transfer is unavailable."""
    tasks: TaskSupervisor = field(init=False)
    """The supervisor every background task of the run is started under; stops restarting once ``stop`` is set."""

    def __post_init__(self) -> None:
        self.tasks = TaskSupervisor(self.store, stopping=self.stop, clock=self.clock, disk=self.disk)
        self.store.on_disk_full = self.disk.report

    @property
    def run_id(self) -> str:
        return self.paths.run_id
