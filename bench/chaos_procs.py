"""Processes as the chaos bench sees them, read from /proc: a daemon's descendants, who holds a run's files."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    """A process, named by its pid and its start time (a pid alone may be reused)."""

    pid: int
    started: int
    ppid: int
    name: str

    def alive(self) -> bool:
        now = read(self.pid)
        return now is not None and now.started == self.started and _state(self.pid) not in ("Z", "X", None)

    def cmdline(self) -> str:
        try:
            return Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return ""


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name_end = text.rfind(")")
    return [text[text.find("(") + 1 : name_end], *text[name_end + 2 :].split()]


def _state(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[1] if fields else None


def read(pid: int) -> Proc | None:
    fields = _stat(pid)
    if fields is None:
        return None
    # After the name: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime,
    # stime, cutime, cstime, priority, nice, threads, itrealvalue, starttime (the 20th).
    return Proc(pid=pid, started=int(fields[20]), ppid=int(fields[2]), name=fields[0])


def all_procs() -> list[Proc]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (p := read(int(entry))) is not None:
            out.append(p)
    return out


def descendants(root: int) -> list[Proc]:
    """Every live process below ``root`` (not ``root`` itself)."""
    procs = all_procs()
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    out: list[Proc] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child.pid)
    return out


def holders(folder: Path) -> list[Proc]:
    """Processes (other than this one) whose working folder or an open file is inside ``folder``."""
    folder = folder.resolve()
    out = []
    for p in all_procs():
        if p.pid == os.getpid():
            continue
        links = [f"/proc/{p.pid}/cwd"]
        try:
            links += [f"/proc/{p.pid}/fd/{fd}" for fd in os.listdir(f"/proc/{p.pid}/fd")]
        except OSError:
            continue
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target == str(folder) or target.startswith(f"{folder}/"):
                out.append(p)
                break
    return out


def kill(proc: Proc, sig: signal.Signals = signal.SIGKILL) -> bool:
    """Signal ``proc`` if it is still the same process; False if it was gone."""
    if not proc.alive():
        return False
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        return False
    return True


def kill_group(proc: Proc) -> bool:
    """kill -9 the process group ``proc`` leads (a sandbox command runs in a session of its own)."""
    if not proc.alive():
        return False
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True
