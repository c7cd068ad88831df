"""The on-disk side of workspace snapshots: manifest entries, and the blobs they point to.

Every distinct content is one blob, ``<run>/snapshots/blobs/<2 hex>/<sha256>``, written once (a temporary file
in its folder, then ``os.replace``, so a reader never sees half a blob) and never rewritten. A snapshot's
manifest (``SnapshotEntry``, stored by ``aar.store.snapshot_table``) lists its files and their blobs; what it
says is checked again when a blob is read back, so a damaged blob is an error, never a wrong file.

Blobs are shared between snapshots, so removing them (``aar.snapshots.prune``) and using them (taking a
snapshot, restoring one) hold a lock on ``<run>/snapshots/.lock``, exclusive and shared: a snapshot that found
its blob present cannot lose it to a prune before its row is written, in this process or another.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter

from aar.errors import AarError

CHUNK = 1 << 20
BLOB_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class SnapshotError(AarError):
    """A snapshot that cannot be taken, found, read or restored; the message says which and why, in one line."""


class SnapshotNotFound(SnapshotError):
    """No snapshot with that id, or no such file in it."""


class SnapshotDamaged(SnapshotError):
    """A stored copy (a blob, a manifest) no longer matches what the snapshot recorded."""


class SnapshotEntry(BaseModel):
    """One file of a snapshot: where it was, which blob holds it, and the stat that tells whether it changed."""

    model_config = ConfigDict(frozen=True)

    path: str
    """Relative to the workspace, ``/``-separated, plain (no control characters, no ``..``)."""
    sha256: str
    """The blob: the content's SHA-256, in hex."""
    size: int
    mode: int
    """Permission bits only (``0o644``, ``0o755``)."""
    mtime_ns: int
    ctime_ns: int
    """With size, mtime and inode, what says the file is unchanged (no process can set a ctime back)."""
    ino: int


MANIFEST: TypeAdapter[list[SnapshotEntry]] = TypeAdapter(list[SnapshotEntry])
"""The store's ``manifest`` column: a JSON list of entries."""


def blob_folder(root: Path) -> Path:
    """Where the run at ``root`` keeps its blobs."""
    return root / "snapshots" / "blobs"


def blob_path(blobs: Path, sha256: str) -> Path:
    return blobs / sha256[:2] / sha256


@contextlib.asynccontextmanager
async def locked(root: Path, how: int) -> AsyncIterator[Path]:
    """Hold the blobs' lock (``fcntl.LOCK_SH`` or ``LOCK_EX``) and yield the blob folder. It polls: a waiter
    that is cancelled leaves no thread holding a lock behind it. A reader of a run it cannot write (an
    archived copy) reads unlocked: nothing can prune that run either."""
    blobs = blob_folder(root)
    fd: int | None = None
    try:
        blobs.mkdir(parents=True, exist_ok=True)
        fd = os.open(blobs.parent / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if how != fcntl.LOCK_SH or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    if fd is None:
        yield blobs
        return
    try:
        while True:
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.02)
        yield blobs
    finally:
        os.close(fd)


def put(blobs: Path, sha256: str, data: bytes) -> int:
    """Store ``data`` as its blob unless present; returns the bytes written. A present blob of another size (cut
    short by a crash before its data reached the disk) is written again."""
    path = blob_path(blobs, sha256)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == len(data):
            return 0
    try:
        fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    except FileNotFoundError:  # the first blob of its folder (a mkdir each time costs as much as the write)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return len(data)


def copy_out(blobs: Path, entry: SnapshotEntry, write: Callable[[bytes], object], *, limit: int | None = None) -> None:
    """Pass ``entry``'s content to ``write`` chunk by chunk (its first ``limit`` bytes with a limit), checking the
    blob's hash when all of it was read; ``SnapshotDamaged`` names the file when the blob is missing or differs."""
    want = entry.size if limit is None else min(limit, entry.size)
    digest = hashlib.sha256()
    got = 0
    try:
        fd = os.open(blob_path(blobs, entry.sha256), BLOB_READ)
    except FileNotFoundError:
        raise SnapshotDamaged(f"{entry.path}: its stored copy (blob {entry.sha256[:12]}) is missing") from None
    try:
        while got < want:
            chunk = os.read(fd, min(CHUNK, want - got))
            if not chunk:
                break
            digest.update(chunk)
            write(chunk)
            got += len(chunk)
        whole = got == entry.size
        if whole and not os.read(fd, 1) and digest.hexdigest() == entry.sha256:
            return
    finally:
        os.close(fd)
    if whole or got < want:
        raise SnapshotDamaged(f"{entry.path}: its stored copy (blob {entry.sha256[:12]}) is damaged")


def sizes(blobs: Path) -> dict[str, int]:
    """Every blob and its size; removes the temporary files of writes a crash cut short (call it under the
    exclusive lock, when no write is under way)."""
    out: dict[str, int] = {}
    with contextlib.suppress(FileNotFoundError), os.scandir(blobs) as folders:
        for folder in folders:
            if not folder.is_dir(follow_symlinks=False):
                continue
            with os.scandir(folder.path) as found:
                for item in found:
                    if item.name.startswith(".tmp-"):
                        with contextlib.suppress(OSError):
                            os.unlink(item.path)
                    elif item.name[:2] == folder.name and item.is_file(follow_symlinks=False):
                        out[item.name] = item.stat(follow_symlinks=False).st_size
    return out


def remove(blobs: Path, shas: Iterable[str]) -> None:
    for sha in shas:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(blob_path(blobs, sha))
