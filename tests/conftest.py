"""The root of the test tree: the shared fixtures live in ``tests/support`` and are registered here."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.fixtures", "tests.support.engines"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every Docker test is a slow test (``-m "not slow"``, the fast tier of scripts/check, needs no engine).
    Marked here, by what a test uses, so no Docker test can be left out of the rule: one marked ``docker``
    or asking for the image (the other slow tests carry ``slow`` in their module, where a reader sees it)."""
    for item in items:
        if item.get_closest_marker("docker") or "docker_image" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
