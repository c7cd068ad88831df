"""Content-addressed snapshots of agents' workspaces, so that a branch can start from a past step.

A snapshot is a row of the store (``snapshots``) whose manifest lists each file of the workspace and the blob
that holds its content (``aar.snapshot_blobs``). It is taken after an agent's step, so it must cost the step
little: a file whose size, times and inode are those of the agent's previous snapshot keeps its hash unread,
only changed files are read and only new content is written, and the walk runs in a thread, off the loop.

The workspace is the agent's, so hostile (``aar.confined``): it is walked one folder at a time beneath a folder
fd with no link followed, regular files only, each opened ``O_NOFOLLOW | O_NONBLOCK`` and checked with
``fstat`` (a file swapped for a link or a FIFO after the listing is refused), every read bounded. A name that is
not UTF-8 or holds control characters is left out: it would become a label the supervisor reads.

``restore`` writes a snapshot into a new folder, ``read_file`` reads one file of it (the inspect screen), and
``prune`` keeps the blobs under the run's budget by removing the oldest snapshots nothing refers to.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from aar import snapshot_blobs as blobs_
from aar.confined import DIR_FLAGS, READ_FLAGS, UNSAFE_NAME, open_beneath
from aar.snapshot_blobs import SnapshotDamaged, SnapshotEntry, SnapshotError, SnapshotNotFound
from aar.store.rows import SnapshotRow

if TYPE_CHECKING:
    from aar.store.protocols import SnapshotReader, Snapshots

__all__ = [
    "Limits",
    "PruneResult",
    "SnapshotDamaged",
    "SnapshotEntry",
    "SnapshotError",
    "SnapshotNotFound",
    "prune",
    "read_file",
    "restore",
    "take",
]

MB = 1024 * 1024
RACY_NS = 1_000_000_000
"""A file whose mtime is within this of its snapshot's start is read again next time, whatever its stat says: a
write in the same clock tick as the one the snapshot saw leaves size and times as they were (git's "racily
clean" files). One second also covers file systems that keep whole seconds."""


class Limits(BaseModel):
    """What one snapshot takes at most: the workspace is the agent's, and it can fill a disk."""

    model_config = ConfigDict(frozen=True)

    max_file_bytes: int = Field(64 * MB, gt=0)
    """A larger file is left out (counted in ``skipped``), unread."""
    max_files: int = Field(20_000, gt=0)
    """Files kept at most; the rest are counted in ``skipped``."""
    max_total_bytes: int = Field(1024 * MB, gt=0)
    """The files' total size at most; a file that would go over it is counted in ``skipped``."""
    max_entries: int = Field(200_000, gt=0)
    """Directory entries the walk looks at before it stops (what it has not seen is not counted): a workspace
    of ten million empty files must not hold up the agent's step."""
    exclude: frozenset[str] = frozenset({".cache", "__pycache__"})
    """Top-level names that are not the agent's work (caches a run rebuilds); neither kept nor counted."""
    exclude_anywhere: frozenset[str] = frozenset({"__pycache__"})
    """Names left out at any depth, uncounted."""


DEFAULT_LIMITS = Limits()


class PruneResult(BaseModel):
    """What ``prune`` removed."""

    model_config = ConfigDict(frozen=True)

    snapshots: list[int] = []
    """The ids of the snapshots removed, oldest first."""
    blobs: int = 0
    bytes: int = 0
    """The removed blobs' total size."""


# ---------------------------------------------------------------- take


@dataclass
class _Walk:
    """One walk of a workspace, filled in its thread."""

    blobs: Path
    limits: Limits
    previous: dict[str, SnapshotEntry]
    trusted_before_ns: int
    """A previous entry is reused only if its mtime is before this (``RACY_NS``)."""
    entries: list[SnapshotEntry] = field(default_factory=list)
    total: int = 0
    added_bytes: int = 0
    skipped: int = 0
    seen: int = 0

    def run(self, workspace: Path) -> None:
        try:
            root = os.open(workspace, DIR_FLAGS & ~os.O_NOFOLLOW)
        except OSError as exc:
            raise SnapshotError(f"{workspace}: the workspace folder cannot be opened: {exc.strerror}") from None
        try:
            pending: list[list[str]] = [[]]
            while pending and self.seen < self.limits.max_entries:
                parts = pending.pop()
                try:
                    fd = open_beneath(root, parts, DIR_FLAGS)
                except OSError:  # removed, or swapped for a link, since it was listed
                    self.skipped += 1
                    continue
                try:
                    pending.extend(reversed(self._folder(fd, parts)))
                finally:
                    os.close(fd)
        finally:
            os.close(root)

    def _folder(self, fd: int, parts: list[str]) -> list[list[str]]:
        """Keep the files of one folder; return its sub-folders to walk."""
        try:
            with os.scandir(fd) as found:
                items = sorted(found, key=lambda item: item.name)
        except OSError:  # unreadable (its mode), or gone
            self.skipped += 1
            return []
        folders = []
        for item in items:
            self.seen += 1
            if self.seen > self.limits.max_entries:
                break
            name = item.name
            if name in self.limits.exclude_anywhere or (not parts and name in self.limits.exclude):
                continue
            if not _plain(name):
                self.skipped += 1
            elif item.is_dir(follow_symlinks=False):
                folders.append([*parts, name])
            elif item.is_file(follow_symlinks=False):
                self._file(fd, item, "/".join([*parts, name]))
            else:  # a link, a FIFO, a socket, a device
                self.skipped += 1
        return folders

    def _file(self, dir_fd: int, item: os.DirEntry[str], path: str) -> None:
        limits = self.limits
        try:
            info = item.stat(follow_symlinks=False)
        except OSError:
            self.skipped += 1
            return
        if (
            info.st_size > limits.max_file_bytes
            or len(self.entries) >= limits.max_files
            or self.total + info.st_size > limits.max_total_bytes
        ):
            self.skipped += 1
            return
        old = self.previous.get(path)
        if old is not None and _unchanged(old, info) and old.mtime_ns < self.trusted_before_ns:
            entry: SnapshotEntry | None = old
        else:
            entry = self._read(dir_fd, item.name, path)
        if entry is None or self.total + entry.size > limits.max_total_bytes:
            self.skipped += 1
            return
        self.entries.append(entry)
        self.total += entry.size

    def _read(self, dir_fd: int, name: str, path: str) -> SnapshotEntry | None:
        """Read, hash and store one file; None when it is refused (swapped for a link or a FIFO, too large)."""
        try:
            fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > self.limits.max_file_bytes:
                return None
            data = _read_at_most(fd, self.limits.max_file_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > self.limits.max_file_bytes:  # it grew while being read
            return None
        sha = hashlib.sha256(data).hexdigest()
        self.added_bytes += blobs_.put(self.blobs, sha, data)
        mode = stat.S_IMODE(info.st_mode) & 0o777
        return SnapshotEntry(
            path=path,
            sha256=sha,
            size=len(data),
            mode=mode,
            mtime_ns=info.st_mtime_ns,
            ctime_ns=info.st_ctime_ns,
            ino=info.st_ino,
        )


def _plain(name: str) -> bool:
    """UTF-8 (``os.scandir`` gives undecodable bytes as surrogates) with no control character."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return UNSAFE_NAME.search(name) is None


def _unchanged(old: SnapshotEntry, info: os.stat_result) -> bool:
    return (old.size, old.mtime_ns, old.ctime_ns, old.ino) == (
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
        info.st_ino,
    )


def _read_at_most(fd: int, most: int) -> bytes:
    chunks = []
    got = 0
    while got < most:
        chunk = os.read(fd, min(most - got, 16 * MB))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


async def take(
    store: Snapshots,
    root: Path,
    agent: str,
    step: int,
    workspace: Path,
    *,
    reason: str,
    limits: Limits = DEFAULT_LIMITS,
) -> SnapshotRow:
    """Snapshot ``workspace`` as ``agent``'s at ``step``, reusing the hashes of its nearest snapshot at or before
    ``step`` for the files that did not change; returns the row, manifest included."""
    async with blobs_.locked(root, fcntl.LOCK_SH) as blobs:
        # Read under the lock: a prune could otherwise remove that snapshot, and blobs it alone held, first.
        previous = await store.nearest_snapshot(agent, step)
        index = {e.path: e for e in (previous.manifest or [])} if previous else {}
        trusted = int(previous.ts * 1e9) - RACY_NS if previous else 0
        started = time.time()
        walk = _Walk(blobs, limits, index, trusted)
        await asyncio.to_thread(walk.run, workspace)
        snapshot_id = await store.add_snapshot(
            agent,
            step,
            ts=started,
            reason=reason,
            manifest=walk.entries,
            added_bytes=walk.added_bytes,
            skipped=walk.skipped,
        )
    return SnapshotRow(
        id=snapshot_id,
        agent=agent,
        step=step,
        ts=started,
        reason=reason,
        files=len(walk.entries),
        bytes=walk.total,
        added_bytes=walk.added_bytes,
        skipped=walk.skipped,
        manifest=walk.entries,
    )


# ---------------------------------------------------------------- reading back


async def _manifest(store: SnapshotReader, snapshot_id: int) -> list[SnapshotEntry]:
    row = await store.snapshot(snapshot_id)
    if row is None or row.manifest is None:
        raise SnapshotNotFound(f"no snapshot #{snapshot_id} in this run")
    return row.manifest


async def restore(store: SnapshotReader, root: Path, snapshot_id: int, dest: Path) -> int:
    """Write snapshot ``snapshot_id``'s files, with their modes and mtimes, into ``dest``, a folder that must
    not exist or be empty; returns the files written. It is built in a temporary sibling folder and renamed into
    place, so ``dest`` never holds half a workspace; a damaged blob is ``SnapshotDamaged`` naming the file."""
    async with blobs_.locked(root, fcntl.LOCK_SH) as blobs:  # the row is read under it: no prune between
        manifest = await _manifest(store, snapshot_id)
        for entry in manifest:
            _check_path(entry.path, snapshot_id)
        return await asyncio.to_thread(_restore, blobs, manifest, dest)


def _check_path(path: str, snapshot_id: int) -> None:
    """Refuse a manifest path that is absolute, steps up, or is not plain. The manifest is ours, but a path that
    passes cannot land outside the folder being built: its every folder is one ``_restore`` made itself."""
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or UNSAFE_NAME.search(path):
        raise SnapshotDamaged(f"snapshot #{snapshot_id}: its manifest holds the path {path!r}, refused")


def _restore(blobs: Path, manifest: list[SnapshotEntry], dest: Path) -> int:
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise SnapshotError(f"{dest}: not an empty folder; restore a snapshot into a new one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{dest.name}.restoring-", dir=dest.parent))
    try:
        for entry in manifest:
            _restore_file(blobs, entry, building)
        building.chmod(0o755)
        try:
            os.rename(building, dest)  # replaces an empty folder at once; fails if one was filled meanwhile
        except OSError as exc:
            raise SnapshotError(f"{dest}: cannot be put in place: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return len(manifest)


def _restore_file(blobs: Path, entry: SnapshotEntry, building: Path) -> None:
    target = building.joinpath(*entry.path.split("/"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:  # a path given twice, or as a file and a folder
        raise SnapshotDamaged(f"{entry.path}: cannot be restored: {exc.strerror}") from None
    try:
        with open(fd, "wb", closefd=False) as out:
            blobs_.copy_out(blobs, entry, out.write)
        os.fchmod(fd, entry.mode)
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
    finally:
        os.close(fd)


async def read_file(store: SnapshotReader, root: Path, snapshot_id: int, path: str, *, limit: int) -> bytes:
    """The first ``limit`` bytes of file ``path`` as it was in snapshot ``snapshot_id`` (its ``size`` in the
    manifest says whether there was more); read whole, its content is checked against its hash."""
    chunks: list[bytes] = []
    async with blobs_.locked(root, fcntl.LOCK_SH) as blobs:
        entry = next((e for e in await _manifest(store, snapshot_id) if e.path == path), None)
        if entry is None:
            raise SnapshotNotFound(f"{path}: not in snapshot #{snapshot_id}")
        await asyncio.to_thread(blobs_.copy_out, blobs, entry, chunks.append, limit=limit)
    return b"".join(chunks)


# ---------------------------------------------------------------- pruning


async def prune(store: Snapshots, root: Path, budget_mb: float) -> PruneResult:
    """Keep the blobs within ``budget_mb``: when over it, remove the blobs no snapshot refers to (a crash's
    leftovers), then the oldest unpinned snapshots one at a time with the blobs only they referred to, until
    under it or only pinned snapshots remain. The rows go first, so a crash between leaves only unreferenced
    blobs, which the next prune removes."""
    budget = int(budget_mb * MB)
    async with blobs_.locked(root, fcntl.LOCK_EX) as blobs:
        sizes = await asyncio.to_thread(blobs_.sizes, blobs)
        total = sum(sizes.values())
        if total <= budget:
            return PruneResult()
        refs = await store.snapshot_blob_refs()
        gone = [sha for sha in sizes if sha not in refs]
        total -= sum(sizes[sha] for sha in gone)
        doomed: list[int] = []
        for row in await store.snapshots():
            if total <= budget:
                break
            if row.pinned:
                continue
            doomed.append(row.id)
            for sha, count in (await store.snapshot_blob_refs([row.id])).items():
                refs[sha] -= count
                if refs[sha] == 0:
                    gone.append(sha)
                    total -= sizes.get(sha, 0)
        await store.delete_snapshots(doomed)
        await asyncio.to_thread(blobs_.remove, blobs, gone)
    return PruneResult(snapshots=doomed, blobs=len(gone), bytes=sum(sizes.get(sha, 0) for sha in gone))
