"""The root of the test tree: the shared fixtures live in ``tests/support`` and are registered here."""

pytest_plugins = ["tests.support.fixtures"]
