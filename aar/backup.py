"""``aar backup RUN DEST``: a copy of a run, live or not, that ``aar resume`` continues.

The store is copied with SQLite's online backup API in one step: a read
transaction on a WAL database never blocks the daemon's writes, and the copy
is the store as of one commit. The rest of the run folder (the config, the
workspaces, the evaluator's files: the task's secret seed, held-out splits,
caches, logs) is copied after it, so every file a stored row names is
there. The daemon's lock is not copied (a copy has no daemon), nor the
store's WAL and shared-memory files (the backup holds what they held).

Files in workspaces were written by agents: they are hostile. Links are
copied as links, never followed; only regular files and folders are
copied, each file opened without following links and non-blocking; a file
that vanishes while the run goes on is skipped. Everything is written into
a hidden folder beside ``DEST`` that is renamed to ``DEST`` once whole, so an
interrupted backup never looks like one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from aar.disk import BALLAST_NAME
from aar.errors import AarError
from aar.runtime import RunPaths

NOT_COPIED = frozenset({"daemon.lock", "run.db", "run.db-wal", "run.db-shm", "run.db-journal", BALLAST_NAME})
"""Run-folder entries the backup leaves out: the daemon's lock, the store's files (copied by SQLite) and the
disk guard's ballast (space held back, made again by the daemon that resumes the copy)."""
CHUNK = 1 << 20


class BackupError(AarError):
    """A backup that cannot be made (DEST exists, a read-only destination, an unreadable store)."""


@dataclass
class BackupSummary:
    dest: Path
    store_bytes: int = 0
    files: int = 0
    file_bytes: int = 0
    skipped: list[str] = field(default_factory=list)
    """Entries left out, with why (a socket, a file that vanished meanwhile, one we may not read)."""

    def line(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"backed up to {self.dest}: store {self.store_bytes / 1e6:.1f} MB, "
            f"{self.files} files ({self.file_bytes / 1e6:.1f} MB){skipped}"
        )


def backup_run(paths: RunPaths, dest: Path) -> BackupSummary:
    """Copy the run at ``paths`` to the new folder ``dest`` (which must not exist) without pausing it."""
    dest = dest.absolute()
    if dest.exists() or dest.is_symlink():
        raise BackupError(f"{dest} already exists; a backup goes to a new folder")
    if dest.resolve().is_relative_to(paths.root.resolve()):
        raise BackupError(f"{dest} is inside the run folder {paths.root}; a backup goes outside it")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a folder; create it first")
    try:
        partial = dest.parent / f".{dest.name}.partial-{os.getpid()}"
        partial.mkdir()
    except OSError as exc:
        raise BackupError(f"cannot write in {dest.parent}: {exc.strerror or exc}") from None
    summary = BackupSummary(dest=dest)
    try:
        summary.store_bytes = _copy_store(paths.db, partial / paths.db.name)
        _copy_tree(paths.root, partial, summary, top=True)
        partial.rename(dest)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BackupError(f"backup to {dest} failed: {exc.strerror or exc} ({exc.filename or ''})") from None
        raise
    return summary


def _copy_store(source: Path, target: Path) -> int:
    """The store as of one commit, through SQLite's online backup API; checked before it is kept."""
    # A WAL store in a folder nothing can write (a read-only mount) has no daemon: read it as it lies.
    uri = f"file:{source}?mode=ro" + ("" if os.access(source.parent, os.W_OK) else "&immutable=1")
    try:
        with (
            contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)  # one step: the copy is one snapshot, and a WAL reader never blocks the daemon
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the store {source}: {exc}") from None
    if problems != ["ok"]:
        raise BackupError(f"the store {source} fails its integrity check: {problems[0]}")
    return target.stat().st_size


def _copy_tree(source: Path, target: Path, summary: BackupSummary, *, top: bool = False) -> None:
    try:
        entries = sorted(os.scandir(source), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if top and entry.name in NOT_COPIED:
            continue
        into = target / entry.name
        try:
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), into)
            elif entry.is_dir(follow_symlinks=False):
                into.mkdir()
                _copy_tree(Path(entry.path), into, summary)
                shutil.copystat(entry.path, into, follow_symlinks=False)
            elif entry.is_file(follow_symlinks=False):
                summary.file_bytes += _copy_file(Path(entry.path), into)
                summary.files += 1
            else:
                summary.skipped.append(f"{entry.path} (not a file or a folder)")
        except FileNotFoundError:
            summary.skipped.append(f"{entry.path} (removed while it was copied)")
        except PermissionError as exc:  # a file a sandbox user made unreadable to us: say so, copy the rest
            summary.skipped.append(f"{entry.path} (cannot be read: {exc.strerror})")


def _copy_file(source: Path, target: Path) -> int:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(source)  # replaced by something else since it was listed
        with open(target, "xb") as out:
            copied = 0
            while chunk := os.read(fd, CHUNK):
                out.write(chunk)
                copied += len(chunk)
        st = os.fstat(fd)
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        return copied
    finally:
        os.close(fd)
