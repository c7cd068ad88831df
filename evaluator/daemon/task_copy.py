"""The task bundle's copy in an agent's workspace, put back at every start whatever the agent left there.

``<workspace>/task`` belongs to the agent between runs: it may have become a
symbolic link (dangling or pointing at the run's ``evaluator/``), a file, a
FIFO, or a folder whose manifest is a FIFO. A start must neither follow nor
block on any of that, and one workspace must never stop a run from starting.
So the check opens ``task`` relative to the workspace's directory fd without
following links (``aar.confined``); a fresh copy is built next to the
workspaces, where no sandbox reaches, and renamed into place after the old
entry is renamed aside and removed by fd (``aar.removal``: no link followed,
no recursion, however deep the agent nested its folders). What was wrong is returned, for an inbox item.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from aar.confined import DIR_FLAGS, READ_FLAGS, kind_of, open_beneath
from aar.removal import remove_tree
from evaluator.daemon.bundle import MANIFEST

TASK = "task"
SWAP_TRIES = 3
"""A process of the agent may recreate ``task`` between the move aside and the rename in; try again."""


@dataclass(frozen=True)
class Installed:
    """What ``install_bundle`` found and did."""

    found: str = ""
    """What was wrong with the old ``task``, in words; empty when it was current or absent."""
    error: str = ""
    """Why no clean copy could be put in place; empty when it was."""


def install_bundle(bundle: Path, workspace: Path) -> Installed:
    """Make ``workspace/task`` a copy of ``bundle`` unless it already is one; never raises ``OSError``."""
    found = ""
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        wanted = (bundle / MANIFEST).read_bytes()
        root = os.open(workspace, DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            state = _state_of(root, wanted)
            if state is None:
                return Installed()
            found = state
            _replace(root, bundle, workspace.parent)
        finally:
            os.close(root)
    except OSError as exc:
        return Installed(found or f"{TASK} could not be checked", f"{exc.strerror or exc}")
    except Exception as exc:  # one workspace must never stop a run's start: the error goes to the inbox
        return Installed(found or f"{TASK} could not be checked", f"{type(exc).__name__}: {exc}")
    return Installed(found)


def _state_of(root: int, wanted: bytes) -> str | None:
    """None when ``task`` is the bundle's folder; else what it is ("" when absent: a first start)."""
    try:
        info = os.stat(TASK, dir_fd=root, follow_symlinks=False)
    except FileNotFoundError:
        return ""
    if stat.S_ISLNK(info.st_mode):
        return f"{TASK} was a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return f"{TASK} was {'a file' if stat.S_ISREG(info.st_mode) else kind_of(info.st_mode)}, not a folder"
    try:
        fd = open_beneath(root, [TASK, MANIFEST], READ_FLAGS)
    except FileNotFoundError:
        return f"{TASK}/{MANIFEST} was missing"
    except OSError as exc:
        return f"{TASK}/{MANIFEST} could not be opened ({exc.strerror})"
    try:
        manifest = os.fstat(fd)
        if not stat.S_ISREG(manifest.st_mode):
            return f"{TASK}/{MANIFEST} was {kind_of(manifest.st_mode)}"
        current = os.read(fd, len(wanted) + 1)
    finally:
        os.close(fd)
    return None if current == wanted else f"{TASK}/{MANIFEST} differed from the bundle's"


def _replace(root: int, bundle: Path, staging: Path) -> None:
    """Build the copy where no sandbox reaches, then swap it in by rename, relative to the workspace's fd."""
    staged = Path(tempfile.mkdtemp(prefix=".bundle-", dir=staging))
    try:
        shutil.copytree(bundle, staged / TASK)
        for attempt in range(SWAP_TRIES):
            _remove(root)
            try:
                os.rename(staged / TASK, TASK, dst_dir_fd=root)
                return
            except OSError:
                if attempt == SWAP_TRIES - 1:
                    raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _remove(root: int) -> None:
    """Rename ``task`` aside (whatever it is), then delete it without following a link."""
    aside = f".{TASK}-replaced-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(TASK, aside, src_dir_fd=root, dst_dir_fd=root)
    except FileNotFoundError:
        return
    with contextlib.suppress(OSError):
        remove_tree(root, aside)
