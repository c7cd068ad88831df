"""What every test tier shares: one wait on facts, a clock tests move by hand, the ``aar`` runner, the fixtures.

The fixtures (``tests.support.fixtures``) are registered through ``pytest_plugins`` in the root conftest.
"""

from tests.support.cli import aar_cli, start_demo
from tests.support.clock import FakeClock
from tests.support.found import found
from tests.support.waiting import eventually, eventually_sync

__all__ = ["FakeClock", "aar_cli", "eventually", "eventually_sync", "found", "start_demo"]
