"""The ``local`` backend: commands run on this machine, under bubblewrap where it works.

With bubblewrap (``isolation = "bubblewrap"``) a command sees the system and
aar's Python read-only, its workspace at ``/workspace``, no network and no
other process, and dies with the daemon. Without it (``isolation = "none"``,
shown as such in events and the TUI) it is a plain subprocess in the
workspace with rlimits and a scrubbed environment; that is convenience, not
a security boundary, so it needs ``sandbox.isolation = "none-allowed"``, and a
root daemon then runs it as an unprivileged user (``sandbox.unprivileged``). Either way the command runs aar's own interpreter, so
``python -m evaluator.compute.run_method`` works inside, and every command gets its
own process group (its own pid namespace under bubblewrap), so a timeout or
an interrupt kills the whole tree, and so does the command's own end: no
process of an exec outlives it (without bubblewrap, a sweep of ``/proc`` for
the exec's marker finds what left the group).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import resource
import shutil
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

from aar.config import SandboxConfig
from sandbox import unprivileged
from sandbox.base import EventCallback, ExecResult, OutputCallback, Sandbox, SandboxError, Stream
from sandbox.bwrap import bwrap_argv, bwrap_path, python_roots, run_root_of
from sandbox.files import HostFiles, Workspace
from sandbox.output import OutputPump
from sandbox.policy import (
    MARKER_VAR,
    ExecState,
    as_argv,
    base_env,
    emit_lifecycle,
    inside_cwd,
    local_path,
    memory_bytes,
    no_isolation_error,
)
from sandbox.touched import TraceReader, strace_path, traced

READ_CHUNK = 64 * 1024
DRAIN_GRACE_S = 5.0
"""After the command exits (or is killed), how long to wait for pipes still held by a stray descendant."""


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@functools.cache
def _limit_tools() -> tuple[str | None, str | None]:
    return shutil.which("prlimit"), shutil.which("setpriv")


def _limits(memory: int, pdeathsig: bool, drop: bool = False) -> None:
    """Fallback run in the child before exec (slower: the parent must fork, not vfork)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    if pdeathsig:
        _libc().prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if drop:
        unprivileged.drop_privileges()


def limited(
    argv: list[str], memory: int, *, pdeathsig: bool, drop: bool = False
) -> tuple[list[str], Callable[[], None] | None]:
    """``argv`` under rlimits (no core files, data capped at ``memory``), dying with the daemon if asked,
    and run as the unprivileged sandbox user if ``drop``.

    util-linux's ``prlimit`` / ``setpriv`` wrappers exec in place (same pid, exact limits from
    the first instruction); without them a ``preexec_fn`` does the same, at a few ms per command.
    """
    prlimit, setpriv = _limit_tools()
    if prlimit is None or ((pdeathsig or drop) and setpriv is None):
        if pdeathsig:
            _libc()  # resolve in the parent: a dlopen in the forked child is slow
        return argv, functools.partial(_limits, memory, pdeathsig, drop)
    wrapped = [prlimit, f"--data={memory}", "--core=0", "--", *argv]
    if pdeathsig or drop:
        assert setpriv is not None
        switch = unprivileged.setpriv_args(setpriv) if drop else [setpriv]
        wrapped = [*switch, *(["--pdeathsig", "KILL"] if pdeathsig else []), "--", *wrapped]
    return wrapped, None


class LocalSandbox(HostFiles, Sandbox):
    backend = "local"

    def _kill(self, state: ExecState, proc: asyncio.subprocess.Process) -> None:
        _kill_group(proc)
        if not self._bwrap:  # under bubblewrap the pid namespace dies with its first process
            _kill_marked(state.token)

    def __init__(
        self,
        config: SandboxConfig,
        *,
        name: str,
        workspace: Path,
        on_event: EventCallback | None = None,
        isolate: bool | None = None,
    ) -> None:
        """``isolate``: True requires bubblewrap, False never uses it, None uses it where it works."""
        super().__init__(name, workspace)
        self.config = config
        self.on_event = on_event
        self.isolate = isolate
        self.isolation = "none"
        self.files = Workspace(workspace)
        self.runs_as: int | None = None
        """The uid commands run as when it is not the daemon's own (a root daemon without bubblewrap)."""
        self._bwrap: str | None = None
        self._started = False
        self._running: dict[str, tuple[ExecState, asyncio.subprocess.Process]] = {}

    async def start(self) -> None:
        if self._started:
            return
        self.workspace.mkdir(parents=True, exist_ok=True)
        self._bwrap = None if self.isolate is False else await asyncio.to_thread(bwrap_path)
        if self.isolate and self._bwrap is None:
            raise SandboxError(
                "bubblewrap (bwrap) is not installed or cannot create namespaces here; install it with `apt-get install -y bubblewrap`"
            )
        if self._bwrap is None and self.config.isolation == "required":
            raise no_isolation_error(self.config)
        self.isolation = "bubblewrap" if self._bwrap else "none"
        detail = ""
        if self._bwrap is None and unprivileged.wanted():
            note = await asyncio.to_thread(self._hand_to_sandbox_user)
            detail = (
                f"no isolation: commands run as uid {unprivileged.SANDBOX_UID} (setpriv), with the host's files "
                f"and network; the run folder is closed to that user{note}"
            )
        elif self._bwrap is None:
            detail = "no isolation: commands run as this user, with the host's files and network"
        self._started = True
        await emit_lifecycle(self.on_event, "started", self.backend, self.isolation, detail)

    def _hand_to_sandbox_user(self) -> str:
        """Root without bubblewrap: close the run folder, give the workspace to the sandbox user.

        Returns a note for the start event when aar's Python is out of that user's reach."""
        run_root = run_root_of(self.workspace)
        if run_root is not None:
            unprivileged.close_run_folder(run_root)
        unprivileged.check_reachable(self.workspace)
        self.files = Workspace(self.workspace, owner=(unprivileged.SANDBOX_UID, unprivileged.SANDBOX_GID))
        self.files.chown_all()
        self.runs_as = unprivileged.SANDBOX_UID
        return unprivileged.python_note(python_roots())

    def _command(
        self, argv: list[str], cwd: str | None, trace: TraceReader | None = None
    ) -> tuple[list[str], Callable[[], None] | None, str, str]:
        """(full argv, preexec_fn, host cwd, HOME) for a command; ``trace``: record its failed opens there."""
        memory = memory_bytes(self.config.memory)
        if self._bwrap:  # bubblewrap itself makes the command die with the daemon
            inner, preexec = limited(argv, memory, pdeathsig=False)
            inner = traced(inner, trace.write_fd) if trace else inner
            full = bwrap_argv(
                self._bwrap,
                self.workspace,
                inner,
                cwd=inside_cwd(cwd),
                network=self.config.network,
                gpus=self.config.gpus,
            )
            return full, preexec, str(self.workspace), "/workspace"
        host_cwd = self.files.resolve(cwd or ".")
        if not host_cwd.is_dir():
            raise SandboxError(f"{cwd}: no such folder in the workspace")
        full, preexec = limited(argv, memory, pdeathsig=True, drop=self.runs_as is not None)
        return full, preexec, str(host_cwd), str(self.workspace.resolve())

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
        await self.start()
        state = ExecState(token=uuid.uuid4().hex)
        # Failed opens (``sandbox.touched``), where asked for.
        trace = TraceReader() if self.trace_opens and self._bwrap and strace_path() else None
        full, preexec, host_cwd, home = self._command(as_argv(command), cwd, trace)
        environ = (
            base_env(home=home, path=local_path(), gpus=self.config.gpus) | (env or {}) | {MARKER_VAR: state.token}
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=host_cwd,
                env=environ,
                start_new_session=True,
                preexec_fn=preexec,
                pass_fds=(trace.write_fd,) if trace else (),
            )
        except BaseException:
            if trace:
                trace.close()
            raise
        if trace:
            trace.start()
        self._running[state.token] = (state, proc)
        pump = OutputPump(on_output, keep_bytes)
        readers = asyncio.create_task(self._read_all(proc, pump))
        try:
            try:
                await asyncio.wait_for(_exited(proc, readers), timeout)
            except TimeoutError:
                state.timed_out = True
                self._kill(state, proc)
            # Nothing of the command outlives it: its group, and (without bubblewrap, whose pid namespace
            # dies with its first process) whatever left the group with ``setsid`` or a double fork; the
            # sweep of /proc runs off the event loop.
            await asyncio.to_thread(self._kill, state, proc)
            await _drain(readers)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), DRAIN_GRACE_S)
        finally:
            self._running.pop(state.token, None)
            if proc.returncode is None:  # cancelled: never leave the command running
                self._kill(state, proc)
            readers.cancel()
        await pump.finish()
        result = state.result(_exit_code(proc.returncode), pump.tail("stdout"), pump.tail("stderr"), pump.total)
        if trace is None:
            return result
        return result.model_copy(update={"touched": await trace.finish(inside_cwd(cwd), DRAIN_GRACE_S)})

    async def _read_all(self, proc: asyncio.subprocess.Process, pump: OutputPump) -> None:
        async def read(stream: Stream, reader: asyncio.StreamReader | None) -> None:
            while reader is not None and (chunk := await reader.read(READ_CHUNK)):
                await pump.feed(stream, chunk)

        await asyncio.gather(read("stdout", proc.stdout), read("stderr", proc.stderr))

    async def interrupt(self) -> bool:
        running = list(self._running.values())
        for state, proc in running:
            state.killed = True
            self._kill(state, proc)
        return bool(running)

    async def stop(self) -> None:
        await self.interrupt()
        if self._started:
            self._started = False
            await emit_lifecycle(self.on_event, "stopped", self.backend, self.isolation)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _kill_marked(token: str) -> None:
    """Kill every process whose environment carries ``token``: what left the group (``setsid``) too."""
    needle = f"{MARKER_VAR}={token}".encode()
    for _ in range(3):
        found = False
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as handle:
                    if needle not in handle.read().split(b"\0"):
                        continue
                os.kill(int(entry.name), signal.SIGKILL)
                found = True
            except OSError:
                continue
        if not found:
            return


def _exit_code(returncode: int | None) -> int | None:
    """Shell convention: a command killed by signal N exits with 128 + N."""
    if returncode is None:
        return None
    return 128 - returncode if returncode < 0 else returncode


async def _exited(proc: asyncio.subprocess.Process, readers: asyncio.Task[None]) -> None:
    """Wait for the command to exit: its output ends, or it is gone while a stray holds the pipes.

    (``Process.wait`` also waits for the pipes, so it would hang on a stray.) A failing
    output callback aborts the wait.
    """
    while True:
        await asyncio.wait({readers}, timeout=0.1)
        if readers.done():
            readers.result()
            await proc.wait()  # the output ended; the command may still be exiting (or running on, silently)
            return
        if proc.returncode is not None:
            return


async def _drain(readers: asyncio.Task[None]) -> None:
    """Wait for the pipes to close; a descendant that escaped the kill must not hang the exec."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(readers), DRAIN_GRACE_S)
