"""Fixtures shared by every test tier (registered by ``pytest_plugins`` in ``tests/conftest.py``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.store import RunStore
from sandbox.factory import docker_available
from sandbox.minimal_image import DEFAULT_TAG, ensure_minimal_image
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    """A real run store in a real SQLite file."""
    opened = await RunStore.open(tmp_path / "run.db", create=True)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def timed_store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunStore]:
    """A real run store whose times (job claims, device-seconds) come from the ``clock`` fixture."""
    opened = await RunStore.open(tmp_path / "run.db", create=True, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The minimal offline image, imported once per session."""
    if not docker_available():
        if os.environ.get("AAR_TEST_NO_DOCKER") == "1":
            pytest.skip("AAR_TEST_NO_DOCKER=1: no Docker engine in this environment")
        pytest.fail("no Docker engine answers; scripts/test starts dockerd (or set AAR_TEST_NO_DOCKER=1)")
    import docker

    client = docker.from_env()
    try:
        return ensure_minimal_image(client, DEFAULT_TAG)
    finally:
        client.close()
