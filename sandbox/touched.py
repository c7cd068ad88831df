"""What a bubblewrap command tried to open outside its workspace, recorded by strace.

A command that looks for the run store, the held-out labels or another
agent's workspace fails to find them in the sandbox, whatever it is spelled
like (a glob, a quoted split, a script written first, ``cd ..`` then a
relative name). The failed open is the evidence: ``strace`` runs inside
bubblewrap around the command, records only failed file calls (with
``--seccomp-bpf`` only those calls stop, so it costs little), each with its
working directory (``-y``), and writes them to a pipe the daemon reads
(``/dev/fd/N``): nothing in the sandbox can erase a line already written.
A command can still write lines into that pipe (it inherits it), which can
only accuse itself, or kill its tracer, after which nothing more is recorded:
this is a monitor's signal, and the sandbox stays the barrier.

``touched`` keeps failed paths outside every folder the sandbox has (the
workspace, /tmp, the system and aar's Python, /proc, /dev, /sys) and outside
the folders tools look up for configuration (``/.git``, ``/pyproject.toml``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import posixpath
import re
import shutil

from sandbox.bwrap import SYSTEM_DIRS, package_parents, python_roots
from sandbox.files import INSIDE_ROOT

STRACE_OPTIONS = ("-D", "-f", "-qq", "-y", "--seccomp-bpf", "-e", "trace=%file", "-e", "status=failed")
"""``-D``: strace runs as a detached grandchild, so the command stays bubblewrap's direct child and the
exec ends when it does (the pid namespace then takes its background processes with it). Without it,
strace waits for every traced process, and ``sleep 300 &`` held the exec until its timeout."""
TRACE_BYTES = 256_000
"""The most of a command's trace the daemon reads; the rest is drained and dropped."""
MAX_TOUCHED = 20
"""Paths kept per command."""
_SANDBOX_DIRS = ("/tmp", "/proc", "/dev", "/sys", "/run", "/var", "/opt")
"""Folders a sandbox has (or that programs probe for devices, sockets and caches): no evidence there."""
_LOOKED_UP = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "tox.ini",
        "pytest.ini",
        "conftest.py",
        "ruff.toml",
        ".ruff.toml",
        "mypy.ini",
        ".mypy.ini",
        ".editorconfig",
        ".python-version",
        "package.json",
        "node_modules",
        "requirements.txt",
        ".pytest.ini",
        "pytest.toml",
        ".pytest.toml",
        ".coveragerc",
        "selinux",
    }
)
"""Names tools look for in every parent folder up to / (``git``, ``pytest``, libselinux): a miss at / is no
hunting."""
_PROBED = re.compile(
    r"/lib/python3[\d.]*(?:\.zip)?(?:/|$)|/(?:pyvenv\.cfg|pybuilddir\.txt)$|^/(?:root|home/[^/]+)/\.\w+rc$"
)
"""What programs probe on their own: Python's search for its prefix (``<parent>/lib/python311.zip``), a
home folder's rc file found through the password database (``sqlite3`` reads ``/root/.sqliterc``)."""
_LINE = re.compile(r'^\d+\s+\w+\((?:(?:AT_FDCWD|\d+)<(?P<dir>[^>]*)>,\s*)?"(?P<path>(?:[^"\\]|\\.)*)"')


@functools.cache
def strace_path() -> str | None:
    return shutil.which("strace")


def traced(argv: list[str], fd: int) -> list[str]:
    """``argv`` run under strace, its failed file calls written to ``fd``."""
    strace = strace_path()
    if strace is None:
        return argv
    return [strace, *STRACE_OPTIONS, "-o", f"/dev/fd/{fd}", "--", *argv]


@functools.cache
def _known_roots() -> tuple[str, ...]:
    roots = [INSIDE_ROOT, *SYSTEM_DIRS, *_SANDBOX_DIRS, *python_roots(), *package_parents()]
    return tuple(r.rstrip("/") for r in roots)


def touched(trace: str, cwd: str) -> list[str]:
    """The paths in ``trace`` (strace lines) outside everything the sandbox has; ``cwd``: where the command
    started, for a relative path whose folder strace did not print."""
    out: list[str] = []
    for line in trace.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        try:
            raw = match.group("path").encode().decode("unicode_escape", errors="replace")
        except UnicodeError:  # the command may write to the trace pipe too: a line it forged is skipped
            continue
        path = posixpath.normpath(posixpath.join(match.group("dir") or cwd, raw))
        if not path.startswith("/") or _inside(path) or path in out:
            continue
        out.append(path)
        if len(out) >= MAX_TOUCHED:
            break
    return out


def _inside(path: str) -> bool:
    if path == "/" or path.split("/")[1] in _LOOKED_UP or _PROBED.search(path):
        return True
    return any(path == r or path.startswith(r + "/") for r in _known_roots())


class TraceReader:
    """Reads a command's trace from the pipe it writes to, bounded, until the last writer closes it."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.data = bytearray()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Call once the command has started (it holds the write end): the daemon's copy is closed."""
        os.close(self.write_fd)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(self.read_fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    chunk = os.read(self.read_fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                if len(self.data) < TRACE_BYTES:
                    self.data += chunk[: TRACE_BYTES - len(self.data)]
        finally:
            loop.remove_reader(self.read_fd)

    async def finish(self, cwd: str, grace_s: float) -> list[str]:
        """The paths touched outside the sandbox, once every writer is gone (or ``grace_s`` passed)."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, grace_s)
        os.close(self.read_fd)
        return touched(self.data.decode(errors="replace"), cwd)

    def close(self) -> None:
        """Give up without reading (the command never started)."""
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
