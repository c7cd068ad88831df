"""File access to a sandbox's workspace from the host, confined to the workspace.

Both backends mount the workspace from the host, so reading and writing its
files needs no round trip into the sandbox. The code inside the sandbox owns
those files, though, and may still be running (a process left behind, or a
command of another call): any folder on a path may become a symlink between
a check and an open, and any file may be a FIFO, a socket or a 20 GB sparse
file. So nothing here resolves a path and then opens it: every open goes
through ``aar.confined``, relative to a directory fd of the workspace with no
link followed, non-blocking, regular files only, reads bounded.

Why the host and not the sandbox serves these calls: doing it inside (a
``cat`` or a small writer by ``exec``) would cost a process start per call
(tens of milliseconds on docker, against microseconds here), would need the
sandbox running just to read a file, and would move the parsing of the
output, sizes and errors into a channel the agent's own processes can
disturb. The fd-relative opens close the race without that cost: the kernel
refuses every link on the path at the moment of the open, so there is no
window between a check and a use.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from aar.confined import ConfinedError, Root, relative_parts
from sandbox.base import READ_LIMIT, FileInfo, SandboxError

INSIDE_ROOT = "/workspace"
"""Where the workspace appears inside isolated sandboxes; absolute paths under it are accepted."""


def _relative(path: str) -> str:
    if path == INSIDE_ROOT or path.startswith(INSIDE_ROOT + "/"):
        return path[len(INSIDE_ROOT) :].lstrip("/") or "."
    return path


class Workspace:
    """A workspace folder on the host; ``owner`` (uid, gid) is given to what the host writes."""

    def __init__(self, root: Path, owner: tuple[int, int] | None = None) -> None:
        self.root = root
        self.owner = owner
        self.confined = Root(root)

    def resolve(self, path: str) -> Path:
        """The host path of ``path`` (relative, or absolute under /workspace), lexically; refuses escapes.

        Only for a command's working folder, never to open a file: links are not looked at here."""
        try:
            parts = relative_parts(_relative(path))
        except ConfinedError as exc:
            raise SandboxError(str(exc)) from None
        return self.root.resolve().joinpath(*parts)

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes:
        try:
            return self.confined.read(_relative(path), limit)
        except ConfinedError as exc:
            raise SandboxError(str(exc)) from None

    def write(self, path: str, data: bytes) -> None:
        try:
            self.confined.write(_relative(path), data, owner=self.owner)
        except ConfinedError as exc:
            raise SandboxError(str(exc)) from None

    def list(self, path: str = ".", *, recursive: bool = True) -> list[FileInfo]:
        try:
            found = self.confined.entries(_relative(path), recursive=recursive)
        except ConfinedError as exc:
            raise SandboxError(str(exc)) from None
        return [
            FileInfo(path=e.path, size=e.info.st_size, is_dir=stat.S_ISDIR(e.info.st_mode), mtime=e.info.st_mtime)
            for e in found
        ]

    def chown_all(self) -> None:
        """Give the whole workspace to ``owner`` (a root host handing it to a non-root sandbox user).

        ``fwalk`` holds a directory fd for each folder, so a folder swapped for a link is never entered."""
        if self.owner is None:
            return
        os.chown(self.root, *self.owner)
        for _, dirs, files, folder in os.fwalk(self.root):
            for name in dirs + files:
                os.chown(name, *self.owner, dir_fd=folder, follow_symlinks=False)


class HostFiles:
    """The ``Sandbox`` file methods, served from the host side of the workspace mount."""

    files: Workspace

    async def read_file(self, path: str, *, limit: int = READ_LIMIT) -> bytes:
        return await asyncio.to_thread(self.files.read, path, limit)

    async def write_file(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self.files.write, path, data)

    async def list_files(self, path: str = ".", *, recursive: bool = True) -> list[FileInfo]:
        return await asyncio.to_thread(self.files.list, path, recursive=recursive)
