"""What of a run folder travels to a Ray node, and how a bundle is unpacked there (no cluster needed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from evaluator.daemon.ray_bundle import BundleError, BundleShelf, snapshot, travels, unpack, written_since


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


@pytest.mark.parametrize(
    ("name", "goes"),
    [
        ("config.toml", True),
        ("evaluator/secret.json", True),
        ("evaluator/bundle/task.json", True),
        ("evaluator/heldout/feedback.json", True),
        ("evaluator/cache/toy/seed0.npz", True),
        ("evaluator/targets/digits/heldout/final.json", True),
        ("run.db", False),
        ("run.db-wal", False),
        ("workspaces/agent-1/notes.md", False),
        ("logs/daemon.log", False),
        ("evaluator/heldout/final.json", False),
        ("evaluator/heldout/train_unlabel.json", False),
        ("evaluator/verify/3/seed0.json", False),
        ("evaluator/targets/digits/verify/3/seed0.json", False),
        ("evaluator/.prepare.lock", False),
    ],
)
def test_what_travels_with_a_job(name: str, goes: bool) -> None:
    assert travels(name) is goes


@pytest.mark.parametrize(
    "member",
    [
        (tarfile.TarInfo("../outside.txt"), b"x"),
        (tarfile.TarInfo("/tmp/absolute.txt"), b"x"),
        link("evaluator/cache", "/etc"),
        link("evaluator/hard", "/etc/passwd", tarfile.LNKTYPE),
        link("evaluator/fifo", "", tarfile.FIFOTYPE),
    ],
    ids=["dot-dot", "absolute", "symlink", "hard link", "fifo"],
)
def test_a_bundle_that_reaches_outside_its_folder_or_holds_links_is_refused(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes]
) -> None:
    dest = tmp_path / "node" / "copy"
    dest.mkdir(parents=True)
    with pytest.raises(BundleError) as caught:
        unpack(tar_of(member), dest)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("a ")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["copy", "node"]


def test_a_bundle_round_trips_and_only_what_a_job_wrote_comes_back(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for name, text in {
        "config.toml": "[team]\n",
        "run.db": "the store",
        "workspaces/agent-1/x.py": "agent",
        "evaluator/heldout/feedback.json": "[1, 0]",
        "evaluator/heldout/final.json": "[0, 1]",
    }.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    puts: list[bytes] = []

    def put(data: bytes) -> str:
        """``ray.put``'s part: keep the bytes, give a ref."""
        puts.append(data)
        return f"ref{len(puts)}"

    shelf = BundleShelf(run, put)
    digest, ref = shelf.current()
    assert shelf.current() == (digest, ref) and len(puts) == 1, "one put per content"
    node = tmp_path / "node"
    assert sorted(unpack(puts[0], node)) == ["config.toml", "evaluator/heldout/feedback.json"]
    before = snapshot(node / "evaluator")
    (node / "evaluator" / "verify" / "7").mkdir(parents=True)
    (node / "evaluator" / "verify" / "7" / "seed0.json").write_text("{}")
    unpack(written_since(node, before), run / "evaluator")
    assert (run / "evaluator" / "verify" / "7" / "seed0.json").read_text() == "{}"
    assert written_since(node, snapshot(node / "evaluator")) == b""
    (run / "evaluator" / "cache").mkdir()
    (run / "evaluator" / "cache" / "w.json").write_text("[]")
    assert shelf.current()[0] != digest and len(puts) == 2, "new content, a new bundle"


def test_a_copy_left_by_a_task_killed_mid_job_is_swept_by_the_next(tmp_path: Path) -> None:
    """A lost worker never reaches its ``finally``: the next task on the node removes its copy (its process is
    gone), never one whose process lives."""
    import os
    import subprocess

    from evaluator.daemon.ray_task import COPY_PREFIX, sweep_orphan_copies

    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan, live = tmp_path / f"{COPY_PREFIX}{gone.pid}-abc", tmp_path / f"{COPY_PREFIX}{os.getpid()}-def"
    for folder in (orphan, live):
        (folder / "evaluator" / "heldout").mkdir(parents=True)
        (folder / "evaluator" / "heldout" / "feedback.json").write_text("[1, 0]")
    sweep_orphan_copies(tmp_path)
    assert not orphan.exists() and (live / "evaluator" / "heldout" / "feedback.json").is_file()
