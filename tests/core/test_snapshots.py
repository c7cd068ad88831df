"""Workspace snapshots on a real store and real files: what is kept, what is read, what comes back."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import pytest

from aar import snapshot_blobs
from aar.confined import READ_FLAGS
from aar.snapshots import (
    Limits,
    PruneResult,
    SnapshotDamaged,
    SnapshotEntry,
    SnapshotError,
    SnapshotNotFound,
    prune,
    read_file,
    restore,
    take,
)
from aar.store import RunStore

AGENT = "agent-1"
HOUR_AGO = time.time() - 3600


def write(root: Path, path: str, data: bytes, mode: int = 0o644, *, old: bool = False) -> None:
    """A file of the workspace; ``old``: its mtime an hour back, as if written steps ago (not "racily clean")."""
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(mode)
    if old:
        os.utime(target, (HOUR_AGO, HOUR_AGO))


def files_under(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in root.rglob("*")
        if p.is_file()
    }


def blobs(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in snapshot_blobs.blob_folder(root).glob("*/*") if p.name[0] != "."}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspaces" / AGENT
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the workspace files opened for reading (beneath a folder fd), in order."""
    names: list[str] = []
    real = os.open

    def counting(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if dir_fd is not None and not flags & (os.O_DIRECTORY | os.O_CREAT):
            names.append(os.fsdecode(path))
        return real(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", counting)
    return names


async def test_a_restore_gives_back_the_same_bytes_modes_and_mtimes(
    store: RunStore, tmp_path: Path, workspace: Path
) -> None:
    write(workspace, "train.py", b"print('hi')\n", 0o755)
    write(workspace, "data/weak.jsonl", b'{"x": 1}\n' * 100, 0o600)
    write(workspace, "data/deep/er/notes.md", "résumé\n".encode())
    write(workspace, "empty", b"")
    write(workspace, "twin", b'{"x": 1}\n' * 100)  # the same content as weak.jsonl: one blob
    row = await take(store, tmp_path, AGENT, 3, workspace, reason="test")
    assert (row.files, row.skipped, row.bytes) == (5, 0, sum(len(d) for d, _ in files_under(workspace).values()))
    assert row.added_bytes == row.bytes - 900 and len(blobs(tmp_path)) == 4
    dest = tmp_path / "restored"
    dest.mkdir()  # an empty folder is as good as none
    assert await restore(store, tmp_path, row.id, dest) == 5
    assert files_under(dest) == files_under(workspace)
    for name in ("train.py", "data/deep/er/notes.md"):
        assert (dest / name).stat().st_mtime_ns == (workspace / name).stat().st_mtime_ns
    assert [p.name for p in tmp_path.iterdir() if "restoring" in p.name] == []
    stored = await store.snapshot(row.id)
    assert stored == row


async def test_a_second_snapshot_reads_and_stores_only_the_changed_files(
    store: RunStore, tmp_path: Path, workspace: Path, opened: list[str]
) -> None:
    for i in range(1000):
        if i % 100 == 0:
            (workspace / f"run{i // 100}").mkdir()
        path = workspace / f"run{i // 100}/out{i}.txt"
        path.write_bytes(f"result {i % 50}\n".encode() * (1 + i % 50))  # 50 contents: 50 blobs to write
        os.utime(path, (HOUR_AGO, HOUR_AGO))
    first = await take(store, tmp_path, AGENT, 1, workspace, reason="test")
    assert first.files == 1000 and len(opened) == 1000 and len(blobs(tmp_path)) == 50
    opened.clear()
    changed = {f"out{i}.txt": f"new result {i}\n".encode() * (2 + i) for i in range(0, 1000, 100)}
    for name, data in changed.items():
        i = int(name[3:-4])
        write(workspace, f"run{i // 100}/{name}", data)
    before = blobs(tmp_path)
    second = await take(store, tmp_path, AGENT, 2, workspace, reason="test")
    assert sorted(opened) == sorted(changed)
    assert second.files == 1000 and second.added_bytes == sum(len(d) for d in changed.values())
    added = {sha: data for sha, data in blobs(tmp_path).items() if sha not in before}
    assert sorted(added.values()) == sorted(changed.values())
    assert second.manifest is not None and first.manifest is not None
    assert sum(a != b for a, b in zip(first.manifest, second.manifest, strict=True)) == 10


async def test_a_file_changed_in_the_second_before_a_snapshot_is_read_again(
    store: RunStore, tmp_path: Path, workspace: Path, opened: list[str]
) -> None:
    """Same size, same mtime tick: the stat cannot tell, so a file that recent is not trusted next time."""
    write(workspace, "log.txt", b"epoch 1")
    write(workspace, "old.txt", b"settled", old=True)
    await take(store, tmp_path, AGENT, 1, workspace, reason="test")
    opened.clear()
    second = await take(store, tmp_path, AGENT, 2, workspace, reason="test")
    assert opened == ["log.txt"] and second.added_bytes == 0


@pytest.mark.timeout(10)
async def test_links_fifos_and_oversized_files_are_neither_followed_nor_read(
    store: RunStore, tmp_path: Path, workspace: Path, opened: list[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the held-out labels")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "inside.txt").write_bytes(b"not the agent's")
    write(workspace, "ok.txt", b"fine")
    write(workspace, "big.bin", b"x" * 5000)
    (workspace / "to_secret").symlink_to(secret)
    (workspace / "to_passwd").symlink_to("/etc/passwd")
    (workspace / "to_folder").symlink_to(outside, target_is_directory=True)
    os.mkfifo(workspace / "pipe")
    row = await take(store, tmp_path, AGENT, 1, workspace, reason="test", limits=Limits(max_file_bytes=1000))
    assert row.manifest is not None and [e.path for e in row.manifest] == ["ok.txt"]
    assert row.skipped == 5 and opened == ["ok.txt"]
    assert list(blobs(tmp_path).values()) == [b"fine"]


async def test_what_is_not_the_agents_work_or_over_a_limit_is_left_out(
    store: RunStore, tmp_path: Path, workspace: Path
) -> None:
    write(workspace, ".cache/pip/wheel", b"w")
    write(workspace, "src/__pycache__/m.pyc", b"c")
    write(workspace, "src/.cache/kept", b"k")  # .cache is left out at the top only
    os.close(os.open(os.fsencode(workspace) + b"/bad-\xff", os.O_CREAT | os.O_WRONLY, 0o644))
    write(workspace, "bell\x07.txt", b"b")
    for i in range(5):
        write(workspace, f"f{i}.txt", b"12345")
    row = await take(store, tmp_path, AGENT, 1, workspace, reason="test", limits=Limits(max_files=4))
    assert row.manifest is not None and [e.path for e in row.manifest] == ["f0.txt", "f1.txt", "f2.txt", "f3.txt"]
    assert row.skipped == 4  # two names, f4.txt, and src/.cache/kept over max_files
    row = await take(store, tmp_path, AGENT, 2, workspace, reason="test", limits=Limits(max_total_bytes=12))
    assert row.manifest is not None and [e.path for e in row.manifest] == ["f0.txt", "f1.txt", "src/.cache/kept"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("swap", ["link", "fifo"])
async def test_a_file_swapped_after_the_listing_is_refused(
    store: RunStore, tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    write(workspace, "a.txt", b"mine")
    write(workspace, "victim.txt", b"harmless")
    real = os.open

    def swapping(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if path == "victim.txt" and flags == READ_FLAGS:  # listed as a regular file; now, just before its open:
            os.unlink(path, dir_fd=dir_fd)
            if swap == "link":
                os.symlink("/etc/passwd", path, dir_fd=dir_fd)
            else:
                os.mkfifo(path, dir_fd=dir_fd)
        return real(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", swapping)
    row = await take(store, tmp_path, AGENT, 1, workspace, reason="test")
    assert row.manifest is not None and [e.path for e in row.manifest] == ["a.txt"] and row.skipped == 1
    assert list(blobs(tmp_path).values()) == [b"mine"]


async def test_restore_refuses_a_folder_that_is_not_empty(store: RunStore, tmp_path: Path, workspace: Path) -> None:
    write(workspace, "a.txt", b"a")
    row = await take(store, tmp_path, AGENT, 1, workspace, reason="test")
    with pytest.raises(SnapshotError, match="not an empty folder"):
        await restore(store, tmp_path, row.id, workspace)
    assert files_under(workspace) == {"a.txt": (b"a", 0o644)}
    with pytest.raises(SnapshotNotFound, match="no snapshot #99"):
        await restore(store, tmp_path, 99, tmp_path / "new")


@pytest.mark.parametrize("damage", ["changed", "missing", "cut short"])
async def test_a_damaged_blob_names_the_file_and_leaves_no_folder(
    store: RunStore, tmp_path: Path, workspace: Path, damage: str
) -> None:
    write(workspace, "a.txt", b"first file")
    write(workspace, "z/b.txt", b"second file")
    row = await take(store, tmp_path, AGENT, 1, workspace, reason="test")
    blob = snapshot_blobs.blob_path(snapshot_blobs.blob_folder(tmp_path), hashlib.sha256(b"second file").hexdigest())
    if damage == "changed":
        blob.write_bytes(b"SECOND FILE")
    elif damage == "missing":
        blob.unlink()
    else:
        blob.write_bytes(b"second")
    dest = tmp_path / "branch"
    with pytest.raises(SnapshotDamaged, match=r"^z/b\.txt: its stored copy .* is (damaged|missing)$"):
        await restore(store, tmp_path, row.id, dest)
    assert not dest.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "run.db",
        "run.db-shm",
        "run.db-wal",
        "snapshots",
        "workspaces",
    ]
    with pytest.raises(SnapshotDamaged, match=r"^z/b\.txt: "):
        await read_file(store, tmp_path, row.id, "z/b.txt", limit=100)


@pytest.mark.parametrize("path", ["../escape.txt", "/tmp/abs.txt", "a/../../x", "a//b", "./a"])
async def test_restore_refuses_a_manifest_path_outside_the_folder(store: RunStore, tmp_path: Path, path: str) -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    snapshot_blobs.put(snapshot_blobs.blob_folder(tmp_path), sha, b"x")
    entry = SnapshotEntry(path=path, sha256=sha, size=1, mode=0o644, mtime_ns=0, ctime_ns=0, ino=1)
    snapshot_id = await store.add_snapshot(
        AGENT, 1, ts=0.0, reason="forged", manifest=[entry], added_bytes=1, skipped=0
    )
    dest = tmp_path / "d" / "dest"
    with pytest.raises(SnapshotDamaged, match="refused"):
        await restore(store, tmp_path, snapshot_id, dest)
    assert not (tmp_path / "d").exists() and not (tmp_path / "escape.txt").exists()


async def test_read_file_gives_one_file_as_it_was_bounded(store: RunStore, tmp_path: Path, workspace: Path) -> None:
    write(workspace, "notes.md", b"version one")
    row = await take(store, tmp_path, AGENT, 1, workspace, reason="test")
    write(workspace, "notes.md", b"version two, longer")
    await take(store, tmp_path, AGENT, 2, workspace, reason="test")
    assert await read_file(store, tmp_path, row.id, "notes.md", limit=100) == b"version one"
    assert await read_file(store, tmp_path, row.id, "notes.md", limit=7) == b"version"
    with pytest.raises(SnapshotNotFound, match=r"^nope\.md: not in snapshot #\d+$"):
        await read_file(store, tmp_path, row.id, "nope.md", limit=100)


async def test_prune_removes_the_oldest_unpinned_snapshots_and_their_blobs_only(
    store: RunStore, tmp_path: Path, workspace: Path
) -> None:
    kib = 1024
    write(workspace, "shared.txt", b"s" * 10 * kib)
    ids = []
    for step in range(1, 5):
        write(workspace, "work.bin", bytes([step]) * 100 * kib)
        ids.append((await take(store, tmp_path, AGENT, step, workspace, reason="test")).id)
    await store.pin_snapshot(ids[0])
    folder = snapshot_blobs.blob_folder(tmp_path)
    orphan = hashlib.sha256(b"o" * 5 * kib).hexdigest()
    snapshot_blobs.put(folder, orphan, b"o" * 5 * kib)  # a crash's leftover: no row refers to it
    (folder / orphan[:2] / ".tmp-cut").write_bytes(b"half")

    assert await prune(store, tmp_path, budget_mb=1.0) == PruneResult()  # under it: nothing goes
    assert len(blobs(tmp_path)) == 6

    result = await prune(store, tmp_path, budget_mb=250 / 1024)
    assert result.snapshots == ids[1:3] and result.blobs == 3 and result.bytes == 205 * kib
    assert sum(map(len, blobs(tmp_path).values())) == 210 * kib <= 250 * kib
    assert [r.id for r in await store.snapshots()] == [ids[0], ids[3]]
    assert not list(folder.glob("*/.tmp-*"))
    dest = tmp_path / "pinned"
    await restore(store, tmp_path, ids[0], dest)
    assert (dest / "work.bin").read_bytes() == bytes([1]) * 100 * kib

    result = await prune(store, tmp_path, budget_mb=0.001)  # only the pinned one can stay
    assert result.snapshots == [ids[3]] and result.bytes == 100 * kib
    assert [r.id for r in await store.snapshots()] == [ids[0]] and len(blobs(tmp_path)) == 2


async def test_nearest_snapshot_is_the_newest_at_or_before_the_step(store: RunStore) -> None:
    async def add(agent: str, step: int) -> int:
        return await store.add_snapshot(agent, step, ts=0.0, reason="t", manifest=[], added_bytes=0, skipped=0)

    one, _, five_again, nine = [await add(AGENT, s) for s in (1, 5, 5, 9)]
    await add("agent-2", 3)

    async def nearest(agent: str, step: int) -> int | None:
        row = await store.nearest_snapshot(agent, step)
        return None if row is None else row.id

    assert [await nearest(AGENT, s) for s in (0, 1, 4, 5, 8, 100)] == [None, one, one, five_again, five_again, nine]
    assert await nearest("agent-2", 2) is None and await nearest("nobody", 10) is None
    assert [r.step for r in await store.snapshots(AGENT)] == [1, 5, 5, 9]
    assert all(r.manifest is None for r in await store.snapshots())
    with pytest.raises(SnapshotNotFound):
        await store.pin_snapshot(1234)
