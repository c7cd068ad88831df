"""The run folder a job reads, carried to its node through Ray's object store (``ray.run_folder = "object_store"``).

What travels: ``config.toml`` and the evaluator's folder (``evaluator/``: the secret, the public bundle, the
held-out ``feedback`` labels a job scores against, the baseline cache), without what no job reads: the
verified outputs of earlier submissions (``verify/``) and the home task's ``final`` and ``train_unlabel``
labels (written before any job runs, read only by ``aar report --final``). Never ``run.db``, the workspaces,
the logs. A transfer target's folder travels but for its ``verify/``: a transfer job checks its target's
bundle is complete, final labels included, before it builds one.

On the node the task unpacks it into a private folder laid out as the run folder is (``config.toml``,
``evaluator/``, ``workspaces/`` for the verification sandboxes), so the sandbox backends hide it from a
method as they hide a run's own: the split between what a sandbox sees and what only the evaluator sees
is unchanged. What the job writes under ``evaluator/`` (a method's verified outputs, the cache it filled)
comes back with its scores, and the daemon writes it into the run folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from aar.errors import AarError

EVALUATOR = "evaluator"
CONFIG = "config.toml"
HOME_ONLY = ("heldout/final", "heldout/train_unlabel")
"""Prefixes, under the home task's evaluator folder, of labels no job reads."""
KEPT_BUNDLES = 4
"""Object refs the daemon keeps by content (a task in flight holds its own ref besides)."""

Snapshot = dict[str, tuple[int, int]]
"""Files under a folder by their relative POSIX name: ``(size, mtime_ns)``."""


class BundleError(AarError):
    """A bundle that cannot be unpacked safely (a link, a device, a name outside its folder): one line."""


def travels(name: str) -> bool:
    """Whether ``name`` (relative to the run folder, POSIX) goes to a node with a job."""
    if name == CONFIG:
        return True
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or parts[0] != EVALUATOR or parts[-1].startswith(".prepare."):
        return False
    if parts[1] == "targets":  # evaluator/targets/<name>/...: all but its verified outputs
        return len(parts) > 3 and parts[3] != "verify"
    return parts[1] != "verify" and not "/".join(parts[1:]).startswith(HOME_ONLY)


def snapshot(root: Path, under: str = "") -> Snapshot:
    """Every regular file under ``root / under`` (links and other kinds skipped, never followed)."""
    out: Snapshot = {}
    start = root / under if under else root
    for folder, dirs, files in os.walk(start, followlinks=False):
        for name in files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                out[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
        dirs.sort()
    return out


def pack(root: Path, names: Iterable[str]) -> bytes:
    """A tar of ``names`` (relative to ``root``), in sorted order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            tar.add(root / name, arcname=name, recursive=False)
    return buffer.getvalue()


def _member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """Only files and folders, inside ``dest`` (tarfile's ``data`` filter: no absolute name, no ``..``, no
    set-id bits); the folder it goes into is private (the node's copy is ``mkdtemp``'s, 0700)."""
    if not (member.isfile() or member.isdir()):
        raise BundleError(f"a bundle holds {member.name!r}, which is neither a file nor a folder")
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:  # the data filter would strip or refuse these; never packed
        raise BundleError(f"a bundle holds {member.name!r}, a name outside its folder")
    return tarfile.data_filter(member, dest)


def unpack(data: bytes, dest: Path) -> list[str]:
    """Extract a bundle made by :func:`pack` into ``dest``; the names it held."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            tar.extractall(dest, filter=_member)
            return [m.name for m in tar.getmembers()]
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"a job bundle could not be unpacked into {dest}: {exc}") from None


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def written_since(root: Path, before: Snapshot) -> bytes:
    """What was written under ``root / evaluator`` since ``before`` (new or changed files), as a bundle of names
    relative to that folder; empty when nothing was."""
    after = snapshot(root / EVALUATOR)
    changed = [name for name, seen in after.items() if before.get(name) != seen and not name.endswith(".lock")]
    return pack(root / EVALUATOR, changed) if changed else b""


class BundleShelf:
    """The daemon's side: the run folder's bundle as an object ref, packed and put once per content."""

    def __init__(self, root: Path, put: Any) -> None:
        self.root = root
        self.put = put
        """``ray.put``."""
        self._seen: tuple[frozenset[tuple[str, tuple[int, int]]], str] | None = None
        self._refs: dict[str, Any] = {}

    def current(self) -> tuple[str, Any]:
        """``(digest, ref)`` of what a job needs now; blocking (call it off the event loop)."""
        config = self.root / CONFIG
        if not config.is_file():
            raise BundleError(f"{config} is missing: the run folder cannot be sent to the cluster")
        # Only the evaluator's folder is walked: the workspaces are the agents' (any number of files, any kind).
        files = {name: seen for name, seen in snapshot(self.root, EVALUATOR).items() if travels(name)}
        files[CONFIG] = (config.stat().st_size, config.stat().st_mtime_ns)
        key = frozenset(files.items())
        if self._seen is None or self._seen[0] != key:
            data = pack(self.root, files)
            digest = digest_of(data)
            self._refs[digest] = self._refs.pop(digest) if digest in self._refs else self.put(data)
            while len(self._refs) > KEPT_BUNDLES:
                self._refs.pop(next(iter(self._refs)))
            self._seen = (key, digest)
        digest = self._seen[1]
        return digest, self._refs[digest]
