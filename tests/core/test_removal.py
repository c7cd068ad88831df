"""``aar.removal``: an agent's folder removed however deep it nests, without following a link out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aar.removal import remove_path, remove_tree
from evaluator.daemon.task_copy import install_bundle


def _nest(top: Path, depth: int) -> None:
    """``top/a/a/.../a`` ``depth`` deep, built with relative opens (the full path is past PATH_MAX)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("a", dir_fd=fd)
            inner = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)


@pytest.mark.slow
def test_a_tree_3000_deep_with_links_out_is_removed_and_nothing_outside_is_touched(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("the host's")
    tree = tmp_path / "tree"
    _nest(tree, 3000)
    os.symlink(outside, tree / "out")
    os.symlink(outside / "keep.txt", tree / "file-link")
    os.mkfifo(tree / "fifo")
    remove_path(tree)
    assert not tree.exists() and (outside / "keep.txt").read_text() == "the host's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"], "no flattened folder is left behind"


def test_a_missing_name_or_a_link_is_no_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_tree(fd, "absent")
        remove_tree(fd, "dangling")
    finally:
        os.close(fd)
    assert list(tmp_path.iterdir()) == []


def test_a_start_replaces_a_task_folder_nested_3000_deep(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "task.json").write_text('{"schema": 2}')
    workspace = tmp_path / "workspaces" / "agent-1"
    workspace.mkdir(parents=True)
    _nest(workspace / "task", 3000)  # no manifest at the top: the start replaces it
    done = install_bundle(bundle, workspace)
    assert done.found == "task/task.json was missing" and done.error == "", done
    assert (workspace / "task" / "task.json").read_text() == '{"schema": 2}'
    assert sorted(p.name for p in workspace.iterdir()) == ["task"], "the old tree is gone, flattened folders too"
