"""The Sandbox protocol: each agent's own place to run code.

Expected failures of a command (a non-zero exit, a timeout, an interrupt)
come back as data in ``ExecResult``; failures of the provider itself (no
engine, an image that does not exist) are ``SandboxError``s. Every backend
passes the one conformance suite in ``tests/sandbox``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aar.errors import AarError
from aar.events import SandboxLifecycle

Stream = Literal["stdout", "stderr"]
OutputCallback = Callable[[Stream, str], Awaitable[None]]
"""Called with each line (newline kept) as the command prints it, in order."""
EventCallback = Callable[[SandboxLifecycle], Awaitable[None]]
"""Called with a ``SandboxLifecycle`` event when the sandbox starts, stops or is recreated."""


READ_LIMIT = 16 * 1024 * 1024
"""Largest file ``read_file`` returns unless the caller asks for less (or more); larger ones are refused."""


class SandboxError(AarError):
    """The sandbox provider failed (engine down, image missing); not a command's own failure."""


class ExecResult(BaseModel):
    """What a finished command did."""

    model_config = ConfigDict(frozen=True)

    exit_code: int | None
    """The command's exit code; None when it was killed before it exited."""
    stdout: str = ""
    """The tail of standard output (at most ``keep_bytes``); the full stream went to the callback."""
    stderr: str = ""
    timed_out: bool = False
    killed: bool = False
    """Killed by ``interrupt`` (or by the timeout)."""
    touched: list[str] = []
    """Paths outside the workspace the command failed to open (bubblewrap with strace: ``sandbox.touched``)."""
    oom_killed: bool = False
    """Killed by the kernel for going over the sandbox's memory limit (the exit code is then 137)."""
    duration_s: float = 0.0
    output_bytes: int = 0
    """Total bytes the command printed on both streams."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.killed


class FileInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    """Relative to the workspace root, with ``/`` separators."""
    size: int
    is_dir: bool
    mtime: float


class Sandbox(ABC):
    """One agent's sandbox. Paths are relative to the workspace root."""

    backend: str
    """``docker`` or ``local``."""
    isolation: str
    """What isolates it: ``docker``, ``bubblewrap`` or ``none`` (shown in the TUI)."""

    def __init__(self, name: str, workspace: Path) -> None:
        self.name = name
        self.workspace = workspace
        self.trace_opens = True
        """Record each command's failed opens (``ExecResult.touched``) where the backend can: the shell
        monitor reads them from an agent's commands. The evaluator's verification sandboxes turn it off,
        since nothing reads them there and tracing costs a third of a Python start."""

    @abstractmethod
    async def start(self) -> None:
        """Make the sandbox ready (idempotent)."""

    @abstractmethod
    async def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        keep_bytes: int = 64_000,
    ) -> ExecResult:
        """Run ``command`` (a string goes through ``bash -c``) and stream its output."""

    @abstractmethod
    async def interrupt(self) -> bool:
        """Kill every running command's whole process tree; True if one was running."""

    @abstractmethod
    async def read_file(self, path: str, *, limit: int = READ_LIMIT) -> bytes:
        """A regular file of the workspace, whole; refused (one line) if it holds more than ``limit`` bytes,
        is not a regular file, or a link is on its path."""

    @abstractmethod
    async def write_file(self, path: str, data: bytes) -> None: ...

    @abstractmethod
    async def list_files(self, path: str = ".", *, recursive: bool = True) -> list[FileInfo]: ...

    @abstractmethod
    async def stop(self) -> None:
        """Stop and free resources; the workspace stays on disk."""

    async def restart(self) -> None:
        await self.stop()
        await self.start()
