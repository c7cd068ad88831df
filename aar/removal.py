"""Deleting a folder an agent controls: never following a link, never recursing, one fd at a time.

``shutil.rmtree`` recurses once per level on Python 3.11, so an agent's folder
nested 3,000 deep raised ``RecursionError`` in the daemon (a run's start, a
verification's clean-up), and a recursive walk holding an fd per level runs
out of fds. Here every folder found inside is first renamed up into the
parent being cleaned (flattening the tree), so no level is held open while
another is removed, and a link is unlinked, never entered.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
RMDIR_TRIES = 3
"""A process of the agent may still be writing into a folder being removed; it is emptied again this often."""


def remove_tree(parent: int, name: str) -> None:
    """Delete ``name`` (relative to the folder fd ``parent``) and all below it; a missing name is no error."""
    queue = [(name, 0)]
    while queue:
        current, tries = queue.pop()
        try:
            info = os.stat(current, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(current, dir_fd=parent)
            continue
        try:
            folder = os.open(current, DIR_FLAGS, dir_fd=parent)
        except OSError:  # swapped for a link or a file since the stat: take it as it is now
            if tries < RMDIR_TRIES:
                queue.append((current, tries + 1))
            continue
        try:
            with os.scandir(folder) as entries:
                found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
            for child, is_dir in found:
                if is_dir:
                    flat = f".rm-{uuid.uuid4().hex}"
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(child, flat, src_dir_fd=folder, dst_dir_fd=parent)
                        queue.append((flat, 0))
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(child, dir_fd=folder)
        finally:
            os.close(folder)
        try:
            os.rmdir(current, dir_fd=parent)
        except OSError:
            if tries >= RMDIR_TRIES:
                raise
            queue.insert(0, (current, tries + 1))  # refilled meanwhile: empty it again after the rest


def remove_path(path: Path) -> None:
    """``remove_tree`` for a path whose parent folder the host owns (not an agent)."""
    parent = os.open(path.parent, DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        remove_tree(parent, path.name)
    finally:
        os.close(parent)
