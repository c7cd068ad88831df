"""The run folder a job reads, carried to its node through Ray's object store (``ray.run_folder = "object_store"``).

What travels: ``config.toml`` and the evaluator's folder (``evaluator/``: the secret, the public bundle, the
held-out ``feedback`` labels a job scores against, the baseline cache), without what no job reads: the
verified outputs of earlier submissions (``verify/``) and the home task's ``final`` and ``train_unlabel``
labels (written before any job runs, read only by ``aar report --final``). Never ``run.db``, the workspaces,
the logs. A transfer target's folder travels only with a transfer job to that target, and then but for its
``verify/``: the job checks its target's bundle is complete, final labels included, before it builds one.
The secret (``secret.json``) does travel: the job regenerates the task's splits from it. What is promised is
that no sandbox sees it, not that no node does.

On the node the task unpacks it into a private folder laid out as the run folder is (``config.toml``,
``evaluator/``, ``workspaces/`` for the verification sandboxes), so the sandbox backends hide it from a
method as they hide a run's own: the split between what a sandbox sees and what only the evaluator sees
is unchanged. What the job writes under ``evaluator/`` (a method's verified outputs, the cache it filled)
comes back with its scores, and the daemon keeps of it only what a job may write (:func:`keep_returned`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, Any

from aar.errors import AarError
from evaluator.daemon.bundle import MANIFEST

EVALUATOR = "evaluator"
CONFIG = "config.toml"
HOME_ONLY = ("heldout/final", "heldout/train_unlabel")
"""Prefixes, under the home task's evaluator folder, of labels no job reads."""
MAX_RETURNED_BYTES = 8 << 30
"""The most a job's returned files may hold (a jsonl target's bundle holds its model checkpoints)."""

Seen = tuple[int, int, int, int]
Snapshot = dict[str, Seen]
"""Files under a folder by their relative POSIX name: ``(size, mtime_ns, ctime_ns, inode)``."""


class BundleError(AarError):
    """A bundle that cannot be unpacked safely (a link, a device, a name outside its folder): one line."""


def travels(name: str, target: str = "") -> bool:
    """Whether ``name`` (relative to the run folder, POSIX) goes to a node with a job (a transfer job to
    ``target``, or with ``""`` any other)."""
    if name == CONFIG:
        return True
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or parts[0] != EVALUATOR or parts[-1].startswith(".prepare."):
        return False
    if parts[1] == "targets":  # evaluator/targets/<name>/...: its own target's, all but its verified outputs
        return len(parts) > 3 and parts[2] == target and parts[3] != "verify"
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
                seen = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
                out[path.relative_to(root).as_posix()] = seen
        dirs.sort()
    return out


def pack(root: Path, names: Iterable[str]) -> bytes:
    """A tar of the regular files ``names`` (relative to ``root``), in sorted order. A file with a second name
    (a jsonl bundle hard-links its checkpoints) is stored under each as a regular file, never as a tar link,
    which :func:`unpack` refuses."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            with (root / name).open("rb") as file:
                info = tar.gettarinfo(arcname=name, fileobj=file)
                info.type, info.linkname, info.size = tarfile.REGTYPE, "", os.fstat(file.fileno()).st_size
                tar.addfile(info, file)
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


def _returned_kind(parts: tuple[str, ...]) -> str:
    """What a returned name (relative to ``evaluator/``) is: ``verify``, ``cache``, ``prepared`` (a transfer
    target's bundle or held-out labels, built by the job), or ``""`` for what no job may write back."""
    task, rest = (parts[1], parts[2:]) if len(parts) > 2 and parts[0] == "targets" else ("", parts)
    if len(rest) < 2 or any(p.startswith(".") for p in rest):
        return ""
    if rest[0] in ("verify", "cache"):
        return rest[0]
    return "prepared" if task and rest[0] in ("bundle", "heldout") else ""


def keep_returned(data: bytes, evaluator: Path) -> tuple[list[str], list[str]]:
    """The daemon's side of what a job wrote in its copy: ``(kept, refused)`` names, relative to ``evaluator``.

    Kept: a method's verified outputs (``verify/``), cache files the run folder lacks, and a transfer target's
    bundle and held-out labels while the run folder has none (the first job to prepare it wins; its manifest
    is written last). Refused: the secret, the home task's bundle and labels, a prepared target's, anything
    else. A file kept is unlinked before it is written (never written through a link the run folder holds)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = tar.getmembers()
            if sum(m.size for m in members) > MAX_RETURNED_BYTES:
                raise BundleError(f"a job returned more than {MAX_RETURNED_BYTES >> 30} GiB of files")
            kept, refused, unprepared = [], [], {}
            for member in members:
                parts = PurePosixPath(member.name).parts
                kind = (
                    "" if not member.isfile() or ".." in parts or member.name.startswith("/") else _returned_kind(parts)
                )
                if kind == "prepared":
                    if parts[1] not in unprepared:
                        unprepared[parts[1]] = not evaluator.joinpath(*parts[:2], "bundle", MANIFEST).exists()
                    kind = kind if unprepared[parts[1]] else ""
                dest = evaluator.joinpath(*parts) if kind else None
                if dest is None or (kind == "cache" and dest.exists()):
                    refused.append(member.name)
                    continue
                kept.append(member.name)
            # A target's manifest last: a bundle without one is rebuilt, one with it is complete.
            kept.sort(key=lambda name: name.endswith(f"/bundle/{MANIFEST}"))
            for name in kept:
                _write(evaluator, name, tar.extractfile(name))
            return kept, refused
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise BundleError(f"what a job returned could not be kept in {evaluator}: {exc}") from None


def _write(root: Path, name: str, source: IO[bytes] | None) -> None:
    dest = root.joinpath(*PurePosixPath(name).parts)
    if not dest.parent.resolve().is_relative_to(root.resolve()):  # a folder of the run's linked elsewhere
        raise BundleError(f"a job returned {name!r}, which leads outside {root}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        dest.unlink()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            shutil.copyfileobj(source, out)


class BundleShelf:
    """The daemon's side: the run folder's bundle as an object ref, packed and put once per content, one for
    each transfer target's jobs and one for every other job. Only the latest of each is kept here: a task in
    flight holds its own ref, and Ray frees a bundle once no task and no shelf holds it."""

    def __init__(self, root: Path, put: Any) -> None:
        self.root = root
        self.put = put
        """``ray.put``."""
        self._latest: dict[str, tuple[frozenset[tuple[str, Seen]], str, Any]] = {}

    def current(self, target: str = "") -> tuple[str, Any]:
        """``(digest, ref)`` of what a job needs now (a transfer job to ``target``, or with ``""`` any other);
        blocking (call it off the event loop)."""
        config = self.root / CONFIG
        if not config.is_file():
            raise BundleError(f"{config} is missing: the run folder cannot be sent to the cluster")
        # Only the evaluator's folder is walked: the workspaces are the agents' (any number of files, any kind).
        files = {name: seen for name, seen in snapshot(self.root, EVALUATOR).items() if travels(name, target)}
        info = config.stat()
        files[CONFIG] = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        key = frozenset(files.items())
        latest = self._latest.get(target)
        if latest is None or latest[0] != key:
            data = pack(self.root, files)
            digest = digest_of(data)
            ref = latest[2] if latest is not None and latest[1] == digest else self.put(data)
            latest = self._latest[target] = (key, digest, ref)
        return latest[1], latest[2]
