"""The RunClient: what the TUI may write, what it refuses, and attaching to a long run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from aar.commands import Deny, Pause, StopRun
from aar.errors import AarError
from aar.events import ApprovalRequested, SandboxOutput
from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.daemon import Daemon
from tui.app import run_tui
from tui.model import RunModel
from tui.service import BACKLOG_EVENTS, CommandRejected, RunClient


async def test_typed_commands_reach_the_store_and_read_back_the_same(run: RunPaths) -> None:
    client = await RunClient.open(run.root)
    try:
        first = await client.command(Deny(call_id="call-2b", reason="not the test labels"), "agent-2")
        second = await client.command(StopRun(by="tui"), "agent-1")  # a run command targets the run, whoever sent it
        rows = await client.commands()
        assert [(r.id, r.kind, r.target, r.status) for r in rows] == [
            (first, "deny", "agent-2", "pending"),
            (second, "stop_run", "@run", "pending"),
        ]
        assert [r.command for r in rows] == [Deny(call_id="call-2b", reason="not the test labels"), StopRun(by="tui")]
    finally:
        await client.close()


async def test_workspace_is_listed_and_read_but_never_left(run: RunPaths) -> None:
    client = await RunClient.open(run.root)
    try:
        files = await client.workspace_files("agent-1")
        assert [f.path for f in files] == ["method.py", "task/README.md"]
        assert await client.read_workspace_file("agent-1", "method.py") == "def run(ctx):\n    return 1\n"
        with pytest.raises(AarError, match="outside the workspace"):
            await client.read_workspace_file("agent-1", "../../run.db")
        assert await client.workspace_files("nobody") == []
    finally:
        await client.close()


async def test_a_pipe_in_a_workspace_is_neither_listed_nor_read(run: RunPaths) -> None:
    """Opening a FIFO with no writer would block the reader thread, and with it the TUI's exit."""
    os.mkfifo(run.workspace("agent-1") / "pipe")
    client = await RunClient.open(run.root)
    try:
        files = await asyncio.wait_for(client.workspace_files("agent-1"), 5)
        assert [f.path for f in files] == ["method.py", "task/README.md"]
        with pytest.raises(AarError, match=r"pipe: is a FIFO \(named pipe\), not a regular file"):
            await asyncio.wait_for(client.read_workspace_file("agent-1", "pipe"), 5)
    finally:
        await client.close()


async def test_two_clients_watch_one_run(run: RunPaths, daemon: Daemon) -> None:
    first, second = await RunClient.open(run.root), await RunClient.open(run.root)
    try:
        model = RunModel("x")
        model.apply(await second.backlog())
        await first.command(Pause(), "agent-4")
        await daemon.apply()
        assert daemon.controls["agent-4"].paused
        model.apply(await second.poll())
        assert any("⚑ pause: pauses after the step" in line.text for line in model.agents["agent-4"].tail.lines)
    finally:
        await first.close()
        await second.close()


async def test_attach_to_a_long_run_reads_the_tail_and_the_open_approval(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as daemon:
        daemon.emit("agent-3", ApprovalRequested(call_id="old-call", tool="bash", input={"command": "ls"}))
        rows = (
            ("agent-1", "sandbox.output", SandboxOutput(call_id="c", stream="stdout", text="x").model_dump_json())
            for _ in range(BACKLOG_EVENTS + 10)
        )
        daemon.emit_raw(rows)
        last = await daemon.flush()
        await daemon.update_agent("agent-3", status="waiting_approval")
    client = await RunClient.open(run.root)
    try:
        update = await client.backlog()
        assert client.last_event_id == last
        assert len(update.events) == BACKLOG_EVENTS + 2  # the tail, and the requests agent-2 and agent-3 still wait on
        model = RunModel("x")
        model.apply(update)
        assert list(model.agents["agent-3"].pending) == ["old-call"]
        assert list(model.agents["agent-2"].pending) == ["call-2b"]
        assert model.leaderboard[0].agent == "agent-4" and model.queue.queued == 1
    finally:
        await client.close()


async def test_supervisor_posts_need_a_body(run: RunPaths) -> None:
    client = await RunClient.open(run.root)
    try:
        with pytest.raises(CommandRejected, match="needs a body"):
            await client.post("title", " ")
        post_id = await client.post("", "Please share seeds.\nThanks")
        [post] = [p for p in await client.posts() if p.id == post_id]
        assert (post.author, post.title) == ("supervisor", "Please share seeds.")
    finally:
        await client.close()


def test_run_tui_refuses_a_folder_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(AarError, match="no run store at"):
        run_tui(tmp_path)
