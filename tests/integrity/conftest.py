"""Fixtures of the integrity suite: a run folder every sandbox user can reach, a daemon without bubblewrap."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.bwrap import bwrap_path


@pytest.fixture
def base() -> Iterator[Path]:
    # Not pytest's tmp_path (mode 700 for root): a root daemon without bubblewrap runs commands
    # as uid 65534, who must be able to pass every folder above a workspace.
    folder = Path(tempfile.mkdtemp(prefix="aar-integrity-"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def without_bubblewrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process and its children find no ``bwrap``: a PATH holding only the util-linux helpers."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("prlimit", "setpriv"):
        found = shutil.which(name)
        if found:
            os.symlink(found, tools / name)
    monkeypatch.setenv("PATH", str(tools))
    bwrap_path.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        bwrap_path.cache_clear()
