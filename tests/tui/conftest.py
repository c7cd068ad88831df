"""Fixtures of the TUI tests: a synthetic run on disk and a stand-in for the daemon's command poller.

Each run's daemon lock is held for the test, as a live daemon holds it: a run that says
``running`` with no lock holder is one whose daemon died, and the TUI shows it as crashed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aar.lock import DaemonLock
from aar.runtime import RunPaths
from tests.tui.synthetic import build_run


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[RunPaths]:
    paths = await build_run(tmp_path / "run", hostile=True)
    with DaemonLock(paths.lock):
        yield paths


@pytest.fixture
def run_sync(tmp_path: Path) -> Iterator[RunPaths]:
    """The same run for synchronous tests (snapshots run their own event loop)."""
    paths = asyncio.run(build_run(tmp_path / "run", hostile=True))
    with DaemonLock(paths.lock):
        yield paths


@pytest.fixture
def run_nine(tmp_path: Path) -> Iterator[RunPaths]:
    paths = asyncio.run(build_run(tmp_path / "run9", agents=9))
    with DaemonLock(paths.lock):
        yield paths
