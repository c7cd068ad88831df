"""What every backend agrees on: the command line, the environment, the limits.

The environment of a sandboxed command is built from nothing: a short
allow-list of harmless values plus what the caller passes. Nothing of the
daemon's own environment (``ANTHROPIC_API_KEY``, cloud credentials, tokens)
is inherited, by construction rather than by a deny-list that could miss one.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from aar.config import SandboxConfig
from aar.events import LifecycleAction, SandboxLifecycle
from aar.placement import size_bytes
from sandbox.base import EventCallback, ExecResult, SandboxError
from sandbox.files import INSIDE_ROOT

MARKER_VAR = "AAR_EXEC"
"""Set in every command's environment to a per-exec token, so its whole process tree can be found."""


def no_isolation_error(config: SandboxConfig) -> SandboxError:
    """The one line a run without isolation refuses to start with: what to install or start, or how to waive it."""
    wanted = "Docker" if config.backend == "docker" else "bubblewrap or Docker"
    return SandboxError(
        f"sandboxes would have no isolation here ({wanted} unavailable), so held-out labels would be readable: "
        "install bubblewrap (`sudo apt-get install -y bubblewrap`) or start Docker and run `aar sandbox build`; "
        'to run unisolated anyway set sandbox.isolation = "none-allowed"'
    )


def as_argv(command: str | list[str]) -> list[str]:
    """A string runs through ``bash -c`` (pipes, globs, ``cd``); a list runs as given.

    Not a login shell: /etc/profile would reset PATH and lose aar's interpreter.
    """
    if isinstance(command, str):
        return ["bash", "-c", command]
    if not command:
        raise SandboxError("empty command: give a string or a non-empty list of arguments")
    return [str(part) for part in command]


def memory_bytes(text: str) -> int:
    """``"512m"`` -> 536870912 (the config's memory syntax)."""
    try:
        return size_bytes(text)
    except ValueError:
        raise SandboxError(f"sandbox.memory = {text!r}: use a size like 512m or 4g") from None


def base_env(*, home: str, path: str | None, gpus: str = "none") -> dict[str, str]:
    """The allow-listed environment every command starts from."""
    env = {
        "HOME": home,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "TMPDIR": "/tmp",
        "PYTHONUNBUFFERED": "1",
    }
    if path is not None:
        env["PATH"] = path
    if gpus == "none":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif gpus != "all":
        env["CUDA_VISIBLE_DEVICES"] = gpus
    return env


def local_path() -> str:
    """PATH for local sandboxes: aar's own interpreter first, so ``python`` is the venv's."""
    parts = [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
    return ":".join(dict.fromkeys(parts))


def inside_cwd(cwd: str | None) -> str:
    """The working directory inside an isolated sandbox for a ``cwd`` relative to the workspace."""
    if not cwd or cwd == ".":
        return INSIDE_ROOT
    if cwd.startswith("/"):
        return cwd
    return f"{INSIDE_ROOT}/{cwd}"


@dataclass
class ExecState:
    """Bookkeeping of one running command, shared by the backends."""

    token: str
    started: float = field(default_factory=time.monotonic)
    timed_out: bool = False
    killed: bool = False
    oom_killed: bool = False

    def result(self, exit_code: int | None, stdout: str, stderr: str, output_bytes: int) -> ExecResult:
        killed = self.killed or self.timed_out
        return ExecResult(
            exit_code=None if killed else exit_code,
            stdout=stdout,
            stderr=stderr,
            timed_out=self.timed_out,
            killed=killed,
            oom_killed=self.oom_killed,
            duration_s=round(time.monotonic() - self.started, 4),
            output_bytes=output_bytes,
        )


async def emit_lifecycle(
    on_event: EventCallback | None,
    action: LifecycleAction,
    backend: str,
    isolation: str,
    detail: str = "",
    *,
    host: str = "",
) -> None:
    """Tell the run what happened to a sandbox (started, stopped, recreated, failed), and on which host."""
    if on_event is not None:
        await on_event(SandboxLifecycle(action=action, backend=backend, isolation=isolation, detail=detail, host=host))
