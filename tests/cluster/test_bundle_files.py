"""What of a run folder travels to a Ray node, and how a bundle is unpacked there (no cluster needed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from evaluator.daemon.ray_bundle import (
    BundleError,
    BundleShelf,
    keep_returned,
    pack,
    snapshot,
    travels,
    unpack,
    written_since,
)


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


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
        ("evaluator/targets/digits/heldout/final.json", False),
        ("evaluator/targets/digits/secret.json", False),
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
    ("name", "goes"),
    [
        ("evaluator/targets/digits/secret.json", True),
        ("evaluator/targets/digits/heldout/final.json", True),
        ("evaluator/targets/digits/cache/w.json", True),
        ("evaluator/targets/digits/verify/3/seed0.json", False),
        ("evaluator/targets/classic/heldout/feedback.json", False),
        ("evaluator/heldout/feedback.json", True),
        ("evaluator/heldout/final.json", False),
    ],
)
def test_a_targets_files_travel_only_with_a_transfer_job_to_it(name: str, goes: bool) -> None:
    assert travels(name, "digits") is goes


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
    write_files(
        run,
        {
            "config.toml": "[team]\n",
            "run.db": "the store",
            "workspaces/agent-1/x.py": "agent",
            "evaluator/heldout/feedback.json": "[1, 0]",
            "evaluator/heldout/final.json": "[0, 1]",
        },
    )
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


def test_a_file_with_two_names_travels_as_two_files(tmp_path: Path) -> None:
    """A jsonl bundle hard-links its checkpoints (the weak and the strong model may be one): each name is packed
    as a regular file, which a node unpacks (it refuses tar links)."""
    import os

    (tmp_path / "run" / "bundle").mkdir(parents=True)
    (tmp_path / "run" / "bundle" / "weak.bin").write_bytes(b"weights")
    os.link(tmp_path / "run" / "bundle" / "weak.bin", tmp_path / "run" / "bundle" / "strong.bin")
    node = tmp_path / "node"
    assert sorted(unpack(pack(tmp_path / "run", ["bundle/weak.bin", "bundle/strong.bin"]), node)) == [
        "bundle/strong.bin",
        "bundle/weak.bin",
    ]
    assert [(node / "bundle" / n).read_bytes() for n in ("weak.bin", "strong.bin")] == [b"weights", b"weights"]
    assert (node / "bundle" / "weak.bin").stat().st_ino != (node / "bundle" / "strong.bin").stat().st_ino


def test_a_file_replaced_with_the_same_size_and_time_is_packed_again(tmp_path: Path) -> None:
    import os

    run = tmp_path / "run"
    (run / "evaluator").mkdir(parents=True)
    (run / "config.toml").write_text("[team]\n")
    secret = run / "evaluator" / "secret.json"
    secret.write_text('{"data_seed": 1}')
    puts: list[bytes] = []

    def put(data: bytes) -> int:
        puts.append(data)
        return len(puts)

    shelf = BundleShelf(run, put)
    first = shelf.current()
    times = secret.stat()
    replacement = run / "evaluator" / "new.json"
    replacement.write_text('{"data_seed": 2}')
    os.utime(replacement, ns=(times.st_atime_ns, times.st_mtime_ns))
    replacement.replace(secret)
    assert shelf.current() != first and len(puts) == 2


def returned(evaluator: Path, files: dict[str, str]) -> bytes:
    """What a job in ``evaluator`` (its copy) sends back: ``files``, written there since it started."""
    before = snapshot(evaluator)
    write_files(evaluator, files)
    return written_since(evaluator.parent, before)


def test_the_daemon_keeps_only_what_a_job_may_write_back(tmp_path: Path) -> None:
    """Verified outputs and new cache files are kept; a transfer target's bundle and labels only while the run
    folder has none; never the secret, the home task's labels, or a cache file already there. A file kept is
    written anew, never through a hard link the run folder holds."""
    import os

    run = tmp_path / "run" / "evaluator"
    write_files(
        run,
        {
            "secret.json": "home",
            "heldout/feedback.json": "home labels",
            "cache/w.json": "first",
            "targets/classic/secret.json": "drawn by the daemon",
            "targets/classic/bundle/task.json": "prepared",
            "targets/classic/heldout/final.json": "first draw",
        },
    )
    outside = tmp_path / "outside.json"
    outside.write_text("not the run's")
    (run / "verify" / "7").mkdir(parents=True)
    os.link(outside, run / "verify" / "7" / "seed0.json")
    node = tmp_path / "node" / "evaluator"
    node.mkdir(parents=True)
    data = returned(
        node,
        {
            "verify/7/seed0.json": "predictions",
            "cache/w.json": "second",
            "cache/v.json": "new",
            "secret.json": "another draw",
            "heldout/feedback.json": "other labels",
            "targets/classic/secret.json": "another draw",
            "targets/classic/heldout/final.json": "another draw",
            "targets/digits/bundle/task.json": "built on the node",
            "targets/digits/heldout/final.json": "its labels",
            "targets/digits/verify/7/seed0.json": "predictions there",
        },
    )
    kept, refused = keep_returned(data, run)
    assert sorted(kept) == [
        "cache/v.json",
        "targets/digits/bundle/task.json",
        "targets/digits/heldout/final.json",
        "targets/digits/verify/7/seed0.json",
        "verify/7/seed0.json",
    ]
    assert kept[-1] == "targets/digits/bundle/task.json", "the manifest last"
    assert len(refused) == 5
    assert (run / "verify" / "7" / "seed0.json").read_text() == "predictions"
    assert outside.read_text() == "not the run's"
    unchanged = {
        "secret.json": "home",
        "heldout/feedback.json": "home labels",
        "cache/w.json": "first",
        "targets/classic/secret.json": "drawn by the daemon",
        "targets/classic/heldout/final.json": "first draw",
    }
    assert {name: (run / name).read_text() for name in unchanged} == unchanged


def test_a_returned_bundle_that_cannot_be_kept_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as caught:
        keep_returned(b"not a tar", tmp_path)
    assert "\n" not in str(caught.value)


def test_a_copy_left_by_a_task_killed_mid_job_is_swept_by_the_next(tmp_path: Path) -> None:
    """A lost worker never reaches its ``finally``: the next task on the node removes its copy (its process is
    gone, or its pid now names another process), never one whose process lives."""
    import os
    import subprocess

    from evaluator.daemon.ray_task import COPY_PREFIX, _started, sweep_copies

    gone = subprocess.Popen(["true"])
    gone.wait()
    me = os.getpid()
    orphan = tmp_path / f"{COPY_PREFIX}3-{gone.pid}-{_started(me)}-abc"
    reused = tmp_path / f"{COPY_PREFIX}4-{me}-1-abc"
    live = tmp_path / f"{COPY_PREFIX}5-{me}-{_started(me)}-def"
    for folder in (orphan, reused, live):
        (folder / "evaluator" / "heldout").mkdir(parents=True)
        (folder / "evaluator" / "heldout" / "feedback.json").write_text("[1, 0]")
    assert sweep_copies(tmp_path) == 2
    assert not orphan.exists() and not reused.exists()
    assert (live / "evaluator" / "heldout" / "feedback.json").is_file()


def test_a_copy_is_private_outside_tmp_and_dev_and_no_sandbox_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever ``TMPDIR`` says, a node's copies go under a private folder of the user's (not ``/dev/shm``,
    which a GPU sandbox binds); and where they are put under ``/dev`` all the same, a GPU sandbox whose
    workspace is in one copy can neither list the copies nor read another's labels."""
    import os
    import subprocess
    import uuid

    from evaluator.daemon.ray_bundle import digest_of
    from evaluator.daemon.ray_task import COPIES_ENV, copies_root, private_copy
    from sandbox.bwrap import bwrap_argv, bwrap_path

    monkeypatch.setenv("TMPDIR", "/dev/shm")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(COPIES_ENV, raising=False)
    root = copies_root()
    assert root.is_relative_to(tmp_path / "home") and (root.stat().st_mode & 0o777) == 0o700
    bwrap = bwrap_path()
    if bwrap is None or not Path("/dev/shm").is_dir():
        pytest.skip("bubblewrap cannot make namespaces here, or there is no /dev/shm")
    shm = Path("/dev/shm") / f"aar-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(COPIES_ENV, str(shm))
    bundle = tar_of((tarfile.TarInfo("evaluator/heldout/feedback.json"), b"[1, 0]"))
    try:
        with private_copy(digest_of(bundle), bundle, 1) as mine, private_copy(digest_of(bundle), bundle, 2) as other:
            assert mine.root.parent == shm
            workspace = mine.workspaces / "sub"
            workspace.mkdir()
            labels = other.evaluator_dir / "heldout" / "feedback.json"
            script = f"ls {shm}; cat {labels}; cat {mine.evaluator_dir / 'heldout' / 'feedback.json'}"
            argv = bwrap_argv(bwrap, workspace, ["/bin/sh", "-c", script], cwd="/workspace", gpus="all")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env={})
            assert "[1, 0]" not in done.stdout and other.root.name not in done.stdout, done.stdout
            assert os.access(labels, os.R_OK), "the node's task reads it"
    finally:
        import shutil

        shutil.rmtree(shm, ignore_errors=True)
