"""Files an agent controls, opened from the host without following its links.

An agent owns everything in its workspace. Any folder on a path may be a
symbolic link, swapped in between a check and an open (``renameat2`` with
``RENAME_EXCHANGE`` wins that race within a few tries), and any file may be a
FIFO that never answers, a 20 GB sparse file, a socket or a device node. So
host code never resolves a path and then opens it. It opens the workspace
folder, then the path *relative to it* with every component refused if it is
a link: one ``openat2`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`` where
the kernel has it, else ``O_NOFOLLOW | O_DIRECTORY`` component by component.
Every open is non-blocking, ``fstat`` must say "regular file", and a read
takes at most its limit (the size is checked before reading, and the read
itself stops at the limit, so memory grows by the limit at most).

A path an agent gives may not hold control characters or newlines: such a
name becomes a label other agents and the supervisor read.

Every refusal is a ``ConfinedError`` whose message is one line saying what
to do instead. The agents' file tools (through ``sandbox.files``), the
submission tools, the evaluator and the TUI all read through here; it sits
in the kernel because the TUI may not import ``sandbox``.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aar.errors import AarError
from aar.escape import LINE_BREAKERS

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
UNSAFE_NAME = re.compile(rf"[\x00-\x1f{LINE_BREAKERS}]")
"""Control characters (C0, DEL, C1), the Unicode line and paragraph separators and the bidi marks
(a name becomes a label other agents and the supervisor read: none may break or reorder a line)."""

SYS_OPENAT2 = 437
"""The same number on every architecture (it came after the syscall tables were unified)."""
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08


class ConfinedError(AarError):
    """A path or a file the host will not touch on an agent's behalf; the message says why, in one line."""


class TooLarge(ConfinedError):
    """A file over the reader's limit (refused before any of it is read)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"{path}: is {size} bytes, over the {limit}-byte limit for reading it whole; "
            "read a part of it with bash (head, tail, sed -n)"
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a listing: its path relative to the listed root, and its own (never a link's target) stat."""

    path: str
    info: os.stat_result


def refuse_unsafe(path: str) -> None:
    """Raise ``ConfinedError`` (one line) when ``path`` holds a character of ``UNSAFE_NAME``."""
    bad = UNSAFE_NAME.search(path)
    if bad is not None:
        raise ConfinedError(
            f"{path!r}: a path may not hold control characters or newlines "
            f"({bad.group()!r} at {bad.start()}); give the file a plain name (mv)"
        )


def relative_parts(path: str, *, any_name: bool = False) -> list[str]:
    """``path`` as components relative to the root (``[]`` for the root itself); refuses what may not be opened.
    ``any_name``: the supervisor's own viewer opens a name it listed, whatever characters it holds (the rule
    protects what agents and labels print, not the open, which follows no link either way)."""
    if not any_name:
        refuse_unsafe(path)
    if path.startswith("/"):
        raise ConfinedError(f"{path}: give a path relative to the workspace")
    normal = posixpath.normpath(path)  # lexical: safe, since no link on the path is ever followed
    if normal == ".." or normal.startswith("../"):
        raise ConfinedError(f"{path}: outside the workspace")
    return [] if normal == "." else normal.split("/")


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refusal(path: str, exc: OSError) -> ConfinedError:
    """The one line for an open that failed, by errno."""
    code = exc.errno
    if code == errno.ENOENT:
        return ConfinedError(f"{path}: no such file in the workspace")
    if code in (errno.ELOOP, errno.EXDEV):
        return ConfinedError(
            f"{path}: a symbolic link is on the path; the file tools never follow links (give the real path)"
        )
    if code == errno.ENOTDIR:
        return ConfinedError(
            f"{path}: a part of the path is not a folder (or is a symbolic link, which the file tools never follow)"
        )
    if code == errno.EISDIR:
        return ConfinedError(f"{path}: is a folder, not a file")
    if code == errno.ENXIO:
        return ConfinedError(
            f"{path}: is a socket or a FIFO, not a regular file; the file tools handle regular files only"
        )
    return ConfinedError(f"{path}: {exc.strerror or exc}")


def _require_regular(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ConfinedError(
            f"{path}: is {kind_of(info.st_mode)}, not a regular file; the file tools handle regular files only"
        )


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@functools.cache
def _syscall() -> Callable[..., int]:
    call = ctypes.CDLL(None, use_errno=True).syscall
    call.restype = ctypes.c_long
    return call


_openat2_works: bool | None = None
"""None until tried; False where the kernel (or a seccomp filter) has no ``openat2``."""


def _openat2(dirfd: int, path: str, flags: int, mode: int) -> int | None:
    """``openat2`` beneath ``dirfd`` with no link followed; None where the kernel lacks it."""
    global _openat2_works
    if _openat2_works is False:
        return None
    how = _OpenHow(
        flags, mode if flags & os.O_CREAT else 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
    )
    fd = int(_syscall()(SYS_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how)))
    if fd >= 0:
        _openat2_works = True
        return fd
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM) and _openat2_works is None:
        _openat2_works = False
        return None
    raise OSError(code, os.strerror(code), path)


def use_openat2(enabled: bool) -> None:
    """False forces the component walk; True lets the next open find out whether the kernel has ``openat2``."""
    global _openat2_works
    _openat2_works = None if enabled else False


def open_beneath(dirfd: int, parts: list[str], flags: int, mode: int = 0o666) -> int:
    """Open ``parts`` relative to ``dirfd``, following no link on the way (raises ``OSError``)."""
    if not parts:
        return os.open(".", flags & ~os.O_CREAT, dir_fd=dirfd)
    fd = _openat2(dirfd, "/".join(parts), flags, mode)
    if fd is not None:
        return fd
    current = dirfd
    try:
        for name in parts[:-1]:
            nxt = os.open(name, DIR_FLAGS, dir_fd=current)
            if current != dirfd:
                os.close(current)
            current = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=current)
    finally:
        if current != dirfd:
            os.close(current)


class Root:
    """A folder the host trusts (a workspace) whose contents an agent controls."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _open_root(self) -> int:
        try:
            return os.open(self.path, DIR_FLAGS & ~os.O_NOFOLLOW)
        except OSError as exc:
            raise ConfinedError(f"{self.path}: the workspace folder cannot be opened: {exc.strerror}") from None

    def read(self, path: str, limit: int) -> bytes:
        """The whole of a regular file; ``TooLarge`` (before reading) if it holds more than ``limit`` bytes."""
        data, _ = self._read(path, limit, whole=True)
        return data

    def head(self, path: str, limit: int, *, any_name: bool = False) -> tuple[bytes, bool]:
        """The first ``limit`` bytes of a regular file, and whether there was more (``any_name``: see
        ``relative_parts``)."""
        return self._read(path, limit, whole=False, any_name=any_name)

    def _read(self, path: str, limit: int, *, whole: bool, any_name: bool = False) -> tuple[bytes, bool]:
        parts = relative_parts(path, any_name=any_name)
        if not parts:
            raise ConfinedError(f"{path}: is the workspace folder, not a file")
        root = self._open_root()
        try:
            fd = open_beneath(root, parts, READ_FLAGS)
        except OSError as exc:
            raise _refusal(path, exc) from None
        finally:
            os.close(root)
        try:
            info = os.fstat(fd)
            _require_regular(path, info)
            if whole and info.st_size > limit:
                raise TooLarge(path, info.st_size, limit)
            data = _read_at_most(fd, limit + 1, info.st_size)
        finally:
            os.close(fd)
        if len(data) > limit:
            if whole:  # it grew while being read
                raise TooLarge(path, len(data), limit)
            return data[:limit], True
        return data, False

    def write(self, path: str, data: bytes, *, owner: tuple[int, int] | None = None) -> None:
        """Create or replace a regular file, making missing folders; ``owner`` (uid, gid) gets what is made."""
        parts = relative_parts(path)
        if not parts:
            raise ConfinedError(f"{path}: is the workspace folder itself, not a file")
        root = self._open_root()
        try:
            parent = self._make_folders(root, parts[:-1], path, owner)
            try:
                fd = open_beneath(parent, parts[-1:], WRITE_FLAGS, 0o666)
            except OSError as exc:
                raise _refusal(path, exc) from None
            finally:
                if parent != root:
                    os.close(parent)
        finally:
            os.close(root)
        try:
            info = os.fstat(fd)
            _require_regular(path, info)
            if info.st_nlink > 1:
                raise ConfinedError(f"{path}: has other hard links; remove it first (rm) and write it again")
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if owner is not None:
                os.fchown(fd, *owner)
        finally:
            os.close(fd)

    def _make_folders(self, root: int, parts: list[str], path: str, owner: tuple[int, int] | None) -> int:
        """An fd of the folder ``parts`` beneath ``root``, made where missing; links refused at every step."""
        if not parts:
            return root
        try:
            return open_beneath(root, parts, DIR_FLAGS)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _refusal(path, exc) from None
        current = root
        try:
            for name in parts:
                try:
                    os.mkdir(name, 0o777, dir_fd=current)
                    if owner is not None:
                        os.chown(name, *owner, dir_fd=current, follow_symlinks=False)
                except FileExistsError:
                    pass
                nxt = os.open(name, DIR_FLAGS, dir_fd=current)
                if current != root:
                    os.close(current)
                current = nxt
        except OSError as exc:
            if current != root:
                os.close(current)
            raise _refusal(path, exc) from None
        return current

    def entries(self, path: str = ".", *, recursive: bool = True) -> list[Entry]:
        """What is under a folder, depth first (folders, then files, by name), without entering any link."""
        parts = relative_parts(path)
        root = self._open_root()
        try:
            try:
                base = open_beneath(root, parts, DIR_FLAGS)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    raise ConfinedError(f"{path}: no such folder in the workspace") from None
                raise _refusal(path, exc) from None
        finally:
            os.close(root)
        prefix = "/".join(parts)
        try:
            return list(_walk(base, prefix, recursive))
        finally:
            os.close(base)


def _read_at_most(fd: int, most: int, size: int) -> bytes:
    """Up to ``most`` bytes; one read when the file is no larger than ``fstat`` said."""
    chunks: list[bytes] = []
    got = 0
    want = min(most, size + 1)
    while got < most:
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        if len(chunk) < want:
            break
        want = min(most - got, 1 << 20)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _walk(base: int, prefix: str, recursive: bool) -> Iterator[Entry]:
    """Entries under the folder ``base``; subfolders are opened beneath it, one at a time, links refused."""
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            fd = open_beneath(base, relative.split("/"), DIR_FLAGS) if relative else os.dup(base)
        except OSError:  # swapped for a link (or removed) since it was listed: not entered
            continue
        try:
            folders: list[Entry] = []
            files: list[Entry] = []
            with os.scandir(fd) as found:
                for item in found:
                    try:
                        info = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    name = f"{relative}/{item.name}" if relative else item.name
                    shown = f"{prefix}/{name}" if prefix else name
                    (folders if stat.S_ISDIR(info.st_mode) else files).append(Entry(shown, info))
        finally:
            os.close(fd)
        folders.sort(key=lambda e: e.path)
        files.sort(key=lambda e: e.path)
        yield from folders
        yield from files
        if recursive:
            names = [e.path[len(prefix) + 1 :] if prefix else e.path for e in folders]
            pending.extend(reversed(names))
