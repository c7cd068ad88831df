"""Fixtures of the TUI tests: a synthetic run on disk and the daemon's real command poller beside it.

Each run's daemon lock is held for the test, as a live daemon holds it: a run that says
``running`` with no lock holder is one whose daemon died, and the TUI shows it as crashed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from aar.lock import DaemonLock
from aar.runtime import RunPaths
from tests.tui.daemon import Daemon, daemon_of
from tests.tui.synthetic import build_run


@pytest.fixture
def daemon_locks() -> Iterator[Callable[[RunPaths], RunPaths]]:
    """``daemon_locks(paths)`` holds that run's daemon lock until the test ends, and returns ``paths``."""
    with contextlib.ExitStack() as held:

        def hold(paths: RunPaths) -> RunPaths:
            held.enter_context(DaemonLock(paths.lock))
            return paths

        yield hold


@pytest.fixture
async def run(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(await build_run(tmp_path / "run", hostile=True))


@pytest.fixture
def run_sync(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    """The same run for synchronous tests (snapshots run their own event loop)."""
    return daemon_locks(asyncio.run(build_run(tmp_path / "run", hostile=True)))


@pytest.fixture
def run_nine(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(asyncio.run(build_run(tmp_path / "run9", agents=9)))


@pytest.fixture
async def daemon(run: RunPaths) -> AsyncIterator[Daemon]:
    """The ``run``'s daemon side: its real command poller, applied when the test says so."""
    async with daemon_of(run) as opened:
        yield opened
