"""The core's exception tree.

Every error a user can cause (a bad config, a run that does not exist, a
second daemon on the same run) is an ``AarError`` whose message is one line
that says what to fix. The CLI and the TUI print ``str(error)`` and nothing
else; tracebacks are for bugs.
"""

from __future__ import annotations


class AarError(Exception):
    """Base of every error the user can act on."""


class ConfigError(AarError):
    """A run config is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class RunNotFound(AarError):
    """No run with that id (or no run at all) under the runs directory."""


class RunLocked(AarError):
    """Another live daemon already drives this run."""


class RunNotWritable(AarError):
    """The run folder cannot be written (a read-only file system, no permission)."""


class StoreError(AarError):
    """The run store is missing, from a newer aar, or otherwise unusable."""
