"""The one conformance suite every backend passes: local-bwrap, local-plain and docker.

Where a check is about isolation, the unisolated backend (``isolation ==
"none"``) is the control: the same probe must succeed there, which shows the
probe itself works and that the isolating backends are what stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid

import pytest

from sandbox.base import Sandbox, SandboxError, Stream
from sandbox.output import MAX_LINE
from tests.sandbox.conftest import DB_SECRET, LABEL_SECRET, RunLayout, host_processes, rss_bytes
from tests.support import eventually

FAKE_KEY = "sk-ant-api03-FAKE-" + uuid.uuid4().hex


class Lines:
    """An output callback that records (stream, line, when)."""

    def __init__(self) -> None:
        self.items: list[tuple[Stream, str, float]] = []

    async def __call__(self, stream: Stream, line: str) -> None:
        self.items.append((stream, line, time.monotonic()))

    def of(self, stream: Stream) -> list[str]:
        return [line for s, line, _ in self.items if s == stream]


async def test_exit_codes(sandbox: Sandbox) -> None:
    assert (await sandbox.exec("true")).exit_code == 0
    assert (await sandbox.exec("exit 3")).exit_code == 3
    assert (await sandbox.exec(["sh", "-c", "exit 5"])).exit_code == 5
    missing = await sandbox.exec("no-such-command-xyz")
    assert missing.exit_code == 127 and "no-such-command-xyz" in missing.stderr
    killed = await sandbox.exec("kill -TERM $$")
    assert killed.exit_code == 143 and not killed.killed
    assert (await sandbox.exec("cat")).exit_code == 0  # stdin is empty, not the daemon's


@pytest.mark.slow
async def test_output_streams_line_by_line_in_order(sandbox: Sandbox) -> None:
    lines = Lines()
    await sandbox.start()
    result = await sandbox.exec(
        "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; sleep 0.2; done; printf tail", on_output=lines
    )
    ended = time.monotonic()
    assert result.ok
    assert lines.of("stdout") == ["out1\n", "out2\n", "out3\n", "out4\n", "out5\n", "tail"]
    assert lines.of("stderr") == [f"err{i}\n" for i in range(1, 6)]
    first = next(t for s, line, t in lines.items if line == "out1\n")
    assert ended - first > 0.6, "the first line must arrive while the command still runs, not at its end"
    assert result.stdout == "out1\nout2\nout3\nout4\nout5\ntail"
    assert result.output_bytes == len("out1\n") * 5 + len("err1\n") * 5 + 4


@pytest.mark.slow
async def test_timeout_kills_the_whole_tree(sandbox: Sandbox) -> None:
    mark = f"{4000 + os.getpid() % 1000}.{uuid.uuid4().int % 1000}"  # a sleep no one else runs
    began = time.monotonic()
    result = await sandbox.exec(f"echo started; sleep {mark} & setsid sleep {mark} & sleep {mark}", timeout=1.5)
    assert result.timed_out and result.killed and result.exit_code is None
    assert result.stdout == "started\n"
    assert time.monotonic() - began < 8, "the 4000 s sleeps were not waited for"
    await eventually(lambda: host_processes(f"sleep {mark}") == [], timeout=5, what="every process of the tree to end")


async def test_interrupt_kills_a_running_command(sandbox: Sandbox) -> None:
    assert await sandbox.interrupt() is False
    lines = Lines()
    task = asyncio.create_task(sandbox.exec("echo started; sleep 60; echo never", on_output=lines))
    await eventually(lambda: lines.items, what="the command's first line")
    began = time.monotonic()
    assert await sandbox.interrupt() is True
    result = await asyncio.wait_for(task, 10)
    assert result.killed and not result.timed_out and result.exit_code is None
    assert "never" not in result.stdout
    assert time.monotonic() - began < 5, "the 60 s sleep was not waited for"
    assert (await sandbox.exec("echo again")).stdout == "again\n"


async def test_no_secret_in_the_environment(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEY)
    result = await sandbox.exec("env; cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n'", env={"EXTRA": "given"})
    assert result.ok
    assert FAKE_KEY not in result.stdout and "ANTHROPIC" not in result.stdout
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines() if "=" in line}
    assert "EXTRA" in names and "HOME" in names
    assert names <= {
        "HOME",
        "LANG",
        "TERM",
        "TMPDIR",
        "PYTHONUNBUFFERED",
        "CUDA_VISIBLE_DEVICES",
        "PATH",
        "PWD",
        "SHLVL",
        "_",
        "EXTRA",
        "AAR_EXEC",
        "HOSTNAME",
        "PYTHONPATH",  # bubblewrap: where aar's packages are (sandbox.bwrap.package_parents), no secret
    }


async def test_network_is_cut_off(sandbox: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.2", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        result = await sandbox.exec(f"echo hello > /dev/tcp/127.0.0.2/{port}", timeout=10)
        with contextlib.suppress(BlockingIOError):
            server.accept()[0].close()
            assert sandbox.isolation == "none", "an isolated sandbox reached a host listener"
        if sandbox.isolation == "none":
            assert result.ok, "control: without isolation the same connect succeeds"
        else:
            assert result.exit_code != 0
    finally:
        server.close()


@pytest.mark.slow
async def test_run_store_and_held_out_labels_are_unreadable(sandbox: Sandbox, layout: RunLayout) -> None:
    probe = (
        f"cat {layout.root}/run.db {layout.root}/evaluator/heldout/final.json ../../run.db ../../evaluator/heldout/final.json;"
        f" grep -rs {DB_SECRET} / --include=run.db 2>/dev/null | head -1; ls -a {layout.root} ..; true"
    )
    result = await sandbox.exec(probe, timeout=30)
    leaked = DB_SECRET in result.stdout or LABEL_SECRET in result.stdout
    if sandbox.isolation == "none" and getattr(sandbox, "runs_as", None) is None:
        assert leaked, "control: without isolation, as the daemon's own user, the probe reads the run folder"
    else:  # isolated, or (a root daemon without bubblewrap) run as an unprivileged user the run folder is closed to
        assert not leaked


async def test_files_round_trip_and_stay_inside_the_workspace(sandbox: Sandbox, layout: RunLayout) -> None:
    await sandbox.write_file("notes/a.txt", "héllo\n".encode())
    assert (await sandbox.exec("cat notes/a.txt")).stdout == "héllo\n"
    await sandbox.exec("mkdir -p out && echo made > out/b.txt && ln -s ../../../run.db leak && ln -s /etc/hostname abs")
    assert await sandbox.read_file("out/b.txt") == b"made\n"
    assert await sandbox.read_file("/workspace/out/b.txt") == b"made\n"
    listed = {f.path: f for f in await sandbox.list_files()}
    assert {"notes", "notes/a.txt", "out", "out/b.txt", "leak"} <= set(listed)
    assert listed["notes"].is_dir and listed["notes/a.txt"].size == len("héllo\n".encode())
    assert {f.path for f in await sandbox.list_files("notes", recursive=False)} == {"notes/a.txt"}
    for bad in ("../../run.db", "leak", "abs", "/etc/passwd"):
        with pytest.raises(SandboxError):
            await sandbox.read_file(bad)
    with pytest.raises(SandboxError):
        await sandbox.write_file("leak", b"overwrite")
    assert (layout.root / "run.db").read_text() == DB_SECRET
    with pytest.raises(SandboxError, match="no such file"):
        await sandbox.read_file("missing.txt")


async def test_workspace_survives_a_restart(sandbox: Sandbox) -> None:
    assert (await sandbox.exec("echo kept > kept.txt")).ok
    await sandbox.restart()
    assert (await sandbox.exec("cat kept.txt")).stdout == "kept\n"


async def test_cwd_and_env(sandbox: Sandbox) -> None:
    await sandbox.write_file("sub/x", b"")
    result = await sandbox.exec('pwd; echo "$FOO"; echo "$HOME"', cwd="sub", env={"FOO": "bar"})
    cwd, foo, home = result.stdout.splitlines()
    assert cwd.endswith("/sub") and foo == "bar"
    assert (await sandbox.exec("pwd")).stdout.strip() == home


async def test_concurrent_commands_stream_independently(sandbox: Sandbox) -> None:
    a, b = Lines(), Lines()
    ra, rb = await asyncio.gather(
        sandbox.exec("for i in 1 2 3; do echo a$i; sleep 0.1; done", on_output=a),
        sandbox.exec("for i in 1 2 3; do echo b$i; sleep 0.1; done; exit 4", on_output=b),
    )
    assert ra.exit_code == 0 and rb.exit_code == 4
    assert a.of("stdout") == ["a1\n", "a2\n", "a3\n"] and b.of("stdout") == ["b1\n", "b2\n", "b3\n"]


@pytest.mark.slow
async def test_output_flood_streams_with_bounded_memory(sandbox: Sandbox) -> None:
    total = 200_000_000
    seen = {"bytes": 0, "lines": 0, "peak": 0}
    await sandbox.exec("true")  # start the sandbox (and its client) before the baseline
    baseline = rss_bytes()

    async def count(stream: Stream, line: str) -> None:
        seen["bytes"] += len(line)
        seen["lines"] += 1
        if seen["lines"] % 2000 == 0:
            seen["peak"] = max(seen["peak"], rss_bytes())

    result = await sandbox.exec(
        f"yes \"$(printf '%0999d' 0)\" | head -c {total}", on_output=count, keep_bytes=10_000, timeout=120
    )
    assert result.ok
    assert seen["bytes"] == total == result.output_bytes
    assert seen["lines"] == total // 1000
    assert len(result.stdout) <= 10_000 and result.stdout.endswith("0" * 999 + "\n")
    growth = seen["peak"] - baseline
    assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.0f} MiB while streaming {total / 1e6:.0f} MB"


async def test_an_endless_line_arrives_in_bounded_pieces(sandbox: Sandbox) -> None:
    sizes: list[int] = []

    async def piece(stream: Stream, line: str) -> None:
        sizes.append(len(line))

    result = await sandbox.exec("head -c 1000000 /dev/zero | tr '\\0' x", on_output=piece, keep_bytes=100)
    assert result.ok and sum(sizes) == 1_000_000
    assert max(sizes) <= MAX_LINE and len(sizes) >= 1_000_000 // MAX_LINE
    assert result.stdout == "x" * 100
