"""The TUI's only door to a run: a store reader and a command writer.

Widgets never touch SQLite or the file system; the app calls a ``RunClient``
from workers and hears back through messages. The client reads the store
(events by ``id > last_seen``, agents, forum, leaderboard, jobs,
transcripts), lists the agents' workspace files read-only, and writes the
two things a supervisor may write: commands (which the daemon applies) and
forum posts as ``supervisor``. Several clients may watch one run.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aar.commands import InvalidCommand
from aar.config import load_config
from aar.errors import AarError
from aar.lock import holder_pid
from aar.runs import observed_state
from aar.runtime import RunPaths
from aar.store import CommandRow, EventRow, InboxRow, JobRow, LeaderboardRow, MessageRow, PostRow, RunStore
from tui.model import QueueCounts, RunUpdate

SUPERVISOR = "supervisor"
BACKLOG_EVENTS = 3000
"""Events replayed on attach, so the tails are full at once whatever the run's length."""
POLL_LIMIT = 2000
"""Events read per poll; at 10 polls a second a TUI follows 20,000 events a second."""
SLOW_EVERY = 10
"""Polls between reads of the leaderboard and the evaluator queue (they change slowly)."""
INBOX_EVERY = 3
"""Polls between reads of the inbox's open count (the status bar's badge)."""
INBOX_SHOWN = 200
"""Inbox items the inbox screen lists (the top of the ranking); the badge counts them all."""
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 2000


class CommandRejected(AarError):
    """A command the TUI refuses to write (unknown kind, missing text)."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    dollar_cap: float
    device: str


@dataclass(frozen=True)
class WorkspaceFile:
    path: str
    """Relative to the agent's workspace, with ``/`` separators."""
    size: int


class RunClient:
    """Reads one run's store and writes supervisor commands. Open with ``await RunClient.open(run_dir)``."""

    def __init__(self, store: RunStore, paths: RunPaths, info: RunInfo) -> None:
        self.store = store
        self.paths = paths
        self.info = info
        self.last_event_id = 0
        self.last_post_id = 0
        self._polls = 0
        self._slow_due = True

    @classmethod
    async def open(cls, run_dir: Path) -> RunClient:
        paths = RunPaths(Path(run_dir))
        store = await RunStore.open(paths.db)
        run_id = await store.get_meta("run_id") or paths.run_id
        cap, device = 0.0, ""
        try:
            config = load_config(paths.config)
            cap, device = config.run.dollar_cap, config.evaluator.device
        except AarError:
            pass  # the status bar shows no cap rather than refusing to attach
        return cls(store, paths, RunInfo(run_id=run_id, dollar_cap=cap, device=device))

    async def close(self) -> None:
        await self.store.close()

    # ------------------------------------------------------------ following the run

    async def backlog(self, n: int = BACKLOG_EVENTS) -> RunUpdate:
        """The newest ``n`` events and everything else, to fill the screen on attach."""
        events = await self.store.latest_events(n)
        self.last_event_id = events[-1].id if events else 0
        update = await self._read(events, slow=True)
        update.events = await self._with_open_approvals(update, events)
        return update

    async def poll(self, limit: int = POLL_LIMIT) -> RunUpdate:
        """Events after the last seen one, the agents' rows, new posts; now and then the leaderboard and queue."""
        events = await self.store.events_after(self.last_event_id, limit=limit)
        if events:
            self.last_event_id = events[-1].id
        self._polls += 1
        slow = self._slow_due or self._polls % SLOW_EVERY == 0
        self._slow_due = any(e.kind.startswith(("eval.", "submission.")) for e in events)
        return await self._read(events, slow=slow)

    async def _read(self, events: list[EventRow], *, slow: bool) -> RunUpdate:
        posts = await self.store.posts(after_id=self.last_post_id, limit=500)
        if posts:
            self.last_post_id = posts[-1].id
        update = RunUpdate(
            events=events,
            agents=await self.store.agents(),
            posts=posts,
            post_count=await self.store.post_count() if posts else None,
            state=observed_state(
                await self.store.get_meta("state", "created") or "created", holder_pid(self.paths.lock)
            ),
        )
        if slow:
            update.leaderboard = await self.store.leaderboard()
            update.queue = await self.queue()
        if slow or self._polls % INBOX_EVERY == 0:
            update.inbox_open = await self.store.inbox_open_count()
        return update

    async def _with_open_approvals(self, update: RunUpdate, events: list[EventRow]) -> list[EventRow]:
        """On attach, find approval requests older than the backlog for agents still waiting on one."""
        seen = {e.agent for e in events if e.kind == "approval.requested"}
        extra: list[EventRow] = []
        for agent in update.agents:
            if agent.status == "waiting_approval" and agent.name not in seen:
                recent = await self.store.latest_events(500, agent=agent.name)
                asked = [e for e in recent if e.kind == "approval.requested"]
                if asked:
                    extra.append(asked[-1])
        return sorted(extra + events, key=lambda e: e.id)

    async def queue(self) -> QueueCounts:
        counts = await self.store.job_counts()
        return QueueCounts(
            queued=counts.get("queued", 0), running=counts.get("running", 0), failed=counts.get("failed", 0)
        )

    # ------------------------------------------------------------ reads on demand

    async def leaderboard(self) -> list[LeaderboardRow]:
        return await self.store.leaderboard()

    async def jobs(self, limit: int = 200) -> list[JobRow]:
        return await self.store.jobs(limit=limit)

    async def commands(self, limit: int = 200) -> list[CommandRow]:
        return await self.store.commands(limit=limit)

    async def inbox(self, *, limit: int = INBOX_SHOWN) -> tuple[list[InboxRow], int]:
        """The open inbox items, ranked (the first ``limit``), and how many are open in all."""
        return await self.store.inbox(limit=limit), await self.store.inbox_open_count()

    async def acknowledge(self, item_ids: list[int], by: str) -> int:
        """Record that ``by`` saw these inbox items; returns how many were new."""
        return await self.store.acknowledge(item_ids, by)

    async def transcript(self, agent: str, *, after_id: int = 0) -> list[MessageRow]:
        return await self.store.transcript(agent, after_id=after_id)

    async def posts(self, *, limit: int = 500) -> list[PostRow]:
        return await self.store.posts(limit=limit)

    async def search_posts(self, query: str) -> list[PostRow]:
        return await self.store.search_posts(query)

    async def thread(self, post_id: int) -> list[PostRow]:
        """A post and its replies, oldest first."""
        post = await self.store.post(post_id)
        if post is None:
            return []
        root = post if post.parent_id is None else (await self.store.post(post.parent_id) or post)
        return [root, *await self.store.posts(parent_id=root.id)]

    async def workspace_files(self, agent: str) -> list[WorkspaceFile]:
        return await asyncio.to_thread(_list_files, self.paths.workspace(agent))

    async def read_workspace_file(self, agent: str, relative: str) -> str:
        """A workspace file's text (the first 256 KiB); refuses paths that leave the workspace."""
        root = self.paths.workspace(agent).resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise AarError(f"{relative} is outside {agent}'s workspace")

        def read() -> str:
            # O_NONBLOCK: opening a FIFO an agent left in its workspace must not wait for a writer.
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
            with open(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise AarError(f"{relative} is not a regular file; only files can be shown")
                raw = f.read(MAX_FILE_BYTES + 1)
            text = raw[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
            return text + ("\n… (truncated)" if len(raw) > MAX_FILE_BYTES else "")

        return await asyncio.to_thread(read)

    # ------------------------------------------------------------ writes

    async def command(self, kind: str, target: str, payload: dict[str, Any] | None = None) -> int:
        """Write a supervisor command; the daemon applies it and reports a ``command.applied`` event."""
        if kind == "redirect" and not str((payload or {}).get("text", "")).strip():
            raise CommandRejected("a redirect needs a message; type what the agent should do instead")
        try:
            return await self.store.issue_command(kind, target, payload)
        except InvalidCommand as exc:
            raise CommandRejected(str(exc)) from None

    async def post(self, title: str, body: str, *, parent_id: int | None = None) -> int:
        """Post to the forum as the supervisor (agents read it with their forum tools)."""
        if not body.strip():
            raise CommandRejected("a forum post needs a body")
        return await self.store.add_post(
            SUPERVISOR, title.strip() or body.strip().splitlines()[0][:60], body, parent_id=parent_id
        )


def _list_files(root: Path) -> list[WorkspaceFile]:
    """Regular files under ``root`` (hidden folders and caches skipped), sorted; at most ``MAX_FILES``."""
    out: list[WorkspaceFile] = []
    if not root.is_dir():
        return out
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            path = Path(folder) / name
            try:
                info = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue  # pipes, sockets and devices cannot be shown, and reading a pipe would block
            out.append(WorkspaceFile(path.relative_to(root).as_posix(), info.st_size))
            if len(out) >= MAX_FILES:
                return out
    return out
