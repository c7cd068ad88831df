"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.store import RunStore
from sandbox.factory import docker_available
from sandbox.minimal_image import DEFAULT_TAG, ensure_minimal_image


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every Docker test is a slow test (``-m "not slow"``, the fast tier of scripts/check, needs no engine).
    Marked here, by what a test uses, so no Docker test can be left out of the rule: one marked ``docker``
    or asking for the image (the other slow tests carry ``slow`` in their module, where a reader sees it)."""
    for item in items:
        if item.get_closest_marker("docker") or "docker_image" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    """A real run store in a real SQLite file."""
    opened = await RunStore.open(tmp_path / "run.db", create=True)
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
