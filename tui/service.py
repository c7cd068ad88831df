"""The TUI's only door to a run: a store reader and a command writer.

Widgets never touch SQLite or the file system; the app calls a ``RunClient``
from workers and hears back through messages. The client reads the store
(events by ``id > last_seen``, agents, forum, leaderboard, jobs,
transcripts), lists the agents' workspace files read-only, and writes what
a supervisor may write: commands (which the daemon applies), forum posts as
``supervisor``, and verdicts on submissions. Several clients may watch one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from aar import snapshots
from aar.commands import Branch, Command
from aar.config import load_config
from aar.confined import ConfinedError, Root
from aar.digest import Digest, last_visit
from aar.digest import build as build_digest
from aar.disk import DISK_META
from aar.errors import AarError
from aar.events import (
    CLUSTER_KIND,
    AgentStepCompleted,
    ApprovalRequested,
    ClaimChecked,
    CommandApplied,
    DiskLow,
    EvalClusterChanged,
    EvalJobChanged,
    EvalScored,
    SubmissionCreated,
    Verdict,
)
from aar.lock import holder_pid
from aar.progress import Progress, ProgressFeed
from aar.pulse import DAEMON, silent_for
from aar.replay import MomentError, parse_at, state_at
from aar.replay import bounds as replay_bounds
from aar.replay import resolve as resolve_moment
from aar.replay_steps import At, NoFurther, StepUnit
from aar.replay_steps import step as replay_step
from aar.review import Candidate
from aar.review import candidates as review_candidates
from aar.review_lineage import ReviewDetail
from aar.review_lineage import detail as review_detail
from aar.runs import LIVE_STATES, observed_state
from aar.runtime import RunPaths
from aar.store import CommandRow, EventRow, InboxRow, JobRow, LeaderboardRow, MessageRow, PostRow, RunStore, VerdictRow
from aar.store.inbox_table import SEEN_META
from aar.store.protocols import TuiStore
from aar.store.rows import SnapshotRow
from aar.store.search_index import SearchHit, SearchQueryError
from aar.timeline import Timeline, load_timeline
from aar.timeline import step_at as timeline_step_at
from tui.model import POSTS_KEPT, QueueCounts, RunUpdate
from tui.text import throughput_line

SUPERVISOR = "supervisor"
BACKLOG_EVENTS = 3000
"""Events replayed on attach, so the tails are full at once whatever the run's length."""
POLL_LIMIT = 2000
"""Events read per poll; at 10 polls a second a TUI follows 20,000 events a second."""
MODERATION = frozenset({"quarantine", "restore", "pin"})
"""Commands that change posts already on screen."""
SLOW_EVERY = 10
"""Polls between reads of the leaderboard and the evaluator queue (they change slowly)."""
INBOX_EVERY = 3
"""Polls between reads of the inbox's open count (the status bar's badge)."""
INBOX_SHOWN = 200
"""Inbox items the inbox screen lists (the top of the ranking); the badge counts them all."""
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 2000
SEARCH_HITS = 50
"""Hits a search on the timeline lists (the newest)."""
REVIEW_TOP = 20
"""The fewest verified methods the review desk lists."""
SCORING = (EvalJobChanged, EvalScored, SubmissionCreated)
"""Events after which the leaderboard and the queue are read at the next poll rather than the tenth."""


class CommandRejected(AarError):
    """A command the store refuses to write (a forum post without a body, a command that does not validate)."""


class ReplayRefused(AarError):
    """A write asked of a client that shows a past moment: a replay changes nothing."""


class NotAttached(AarError):
    """The TUI was asked to read or write before it opened the run's store."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    dollar_cap: float
    device: str
    devices: tuple[str, ...] = ()
    """The evaluator's devices, one worker each."""
    digest_after_s: float = 0.0
    """After an absence this long the digest opens on attach (``tui.digest_after_min``); 0 never."""
    review_top: int = REVIEW_TOP
    """Verified methods the review desk lists (the best first): ``transfer.top_k``, at least ``REVIEW_TOP``."""


@dataclass(frozen=True)
class WorkspaceFile:
    path: str
    """Relative to the agent's workspace, with ``/`` separators."""
    size: int


class RunClient:
    """Reads one run's store and writes supervisor commands. Open with ``await RunClient.open(run_dir)``."""

    def __init__(self, store: TuiStore, paths: RunPaths, info: RunInfo) -> None:
        self.store: TuiStore = store
        self.paths = paths
        self.info = info
        self.last_event_id = 0
        self.last_post_id = 0
        self._polls = 0
        self._slow_due = True
        self._progress = ProgressFeed(paths.config)
        self.replaying = False
        """Set while the screen shows a past moment: every write is then refused (``ReplayRefused``)."""

    @classmethod
    async def open(cls, run_dir: Path) -> RunClient:
        paths = RunPaths(Path(run_dir))
        store = await RunStore.open(paths.db)
        run_id = await store.get_meta("run_id") or paths.run_id
        cap, device, after, top = 0.0, "", 0.0, REVIEW_TOP
        devices: tuple[str, ...] = ()
        try:
            config = load_config(paths.config)
            devices = tuple(config.device_plan().evaluator)
            cap, device = config.run.dollar_cap, devices[0] if len(devices) == 1 else ""
            after = config.tui.digest_after_min * 60
            top = max(config.transfer.top_k, REVIEW_TOP)
        except AarError:
            pass  # the status bar shows no cap rather than refusing to attach
        info = RunInfo(
            run_id=run_id, dollar_cap=cap, device=device, devices=devices, digest_after_s=after, review_top=top
        )
        return cls(store, paths, info)

    async def close(self) -> None:
        """Record the supervisor's detach (the next ``aar digest`` starts there), then close the store; a store
        that cannot be written (a read-only copy) is closed all the same."""
        with contextlib.suppress(sqlite3.Error, AarError):
            await self.store.mark_seen(time.time())
        await self.store.close()

    async def digest(self, since: float | None = None) -> Digest:
        """What happened since ``since``, or else since the supervisor's last detach (8 hours without one)."""
        now = time.time()
        since = await last_visit(self.store, now=now) if since is None else since
        return await build_digest(self.store, self.info.run_id, since, now=now)

    async def away_digest(self) -> Digest | None:
        """The digest to open on attach: only after an absence longer than ``digest_after_s`` since a detach."""
        seen = await self.store.get_meta(SEEN_META)
        if not self.info.digest_after_s or not seen or time.time() - float(seen) < self.info.digest_after_s:
            return None
        return await self.digest(float(seen))

    # ------------------------------------------------------------ following the run

    async def backlog(self, n: int = BACKLOG_EVENTS) -> RunUpdate:
        """The newest ``n`` events and everything else, to fill the screen on attach."""
        rows = await self.store.latest_events(n)
        self.last_event_id = rows[-1].id if rows else 0
        update = await self._read(rows, slow=True)
        update.events = await self._with_open_approvals(update)
        return update

    async def poll(self, limit: int = POLL_LIMIT) -> RunUpdate:
        """Events after the last seen one, the agents' rows, new posts; now and then the leaderboard and queue."""
        rows = await self.store.events_after(self.last_event_id, limit=limit)
        if rows:
            self.last_event_id = rows[-1].id
        self._polls += 1
        slow = self._slow_due or self._polls % SLOW_EVERY == 0
        update = await self._read(rows, slow=slow)
        self._slow_due = any(isinstance(e.payload, SCORING) for e in update.events)
        return update

    async def _read(self, rows: list[EventRow], *, slow: bool) -> RunUpdate:
        posts = await self.store.posts(after_id=self.last_post_id, limit=500)
        if posts:
            self.last_post_id = posts[-1].id
        update = RunUpdate(
            events=rows,
            agents=await self.store.agents(),
            posts=posts,
            post_count=await self.store.post_count() if posts else None,
            state=observed_state(
                await self.store.get_meta("state", "created") or "created", holder_pid(self.paths.lock)
            ),
            run_isolation=await self.store.get_meta("isolation", "") or "",
            disk_low=await self._disk_low(),
            daemon_silent_s=silent_for(self.paths.beat(DAEMON)),
        )
        if slow:
            update.leaderboard = await self.store.leaderboard()
            update.references = await self.store.references()
            update.flagged = [
                s for s in await self.store.submissions() if s.flags or s.status in ("rejected", "failed")
            ]
            update.queue = await self.queue()
        update.revised = await self._revised_posts(update.events)
        if slow or self._polls % INBOX_EVERY == 0:
            update.inbox_open = await self.store.inbox_open_count()
        return update

    async def _disk_low(self) -> DiskLow | None:
        """The daemon's standing disk warning; a value this TUI cannot read shows as no warning."""
        text = await self.store.get_meta(DISK_META, "") or ""
        try:
            return DiskLow.model_validate_json(text) if text else None
        except ValidationError:
            return None

    async def _revised_posts(self, events: list[EventRow]) -> list[PostRow]:
        """Posts whose moderation or checked claims changed in ``events``, read again."""
        payloads = [e.payload for e in events]
        if any(isinstance(p, CommandApplied) and p.command in MODERATION for p in payloads):
            return await self.store.posts(after_id=max(0, self.last_post_id - POSTS_KEPT), limit=POSTS_KEPT)
        checked = sorted({p.post_id for p in payloads if isinstance(p, ClaimChecked)})
        return await self.store.posts_by_id(checked) if checked else []

    async def _with_open_approvals(self, update: RunUpdate) -> list[EventRow]:
        """On attach, find approval requests older than the backlog for agents still waiting on one."""
        seen = {e.agent for e in update.events if isinstance(e.payload, ApprovalRequested)}
        extra: list[EventRow] = []
        for agent in update.agents:
            if agent.status == "waiting_approval" and agent.name not in seen:
                recent = await self.store.latest_events(500, agent=agent.name)
                asked = [e for e in recent if isinstance(e.payload, ApprovalRequested)]
                if asked:
                    extra.append(asked[-1])
        return sorted(extra + update.events, key=lambda e: e.id)

    async def queue(self) -> QueueCounts:
        counts = await self.store.job_counts()
        return QueueCounts(
            queued=counts.get("queued", 0), running=counts.get("running", 0), failed=counts.get("failed", 0)
        )

    async def live_backlog(self) -> RunUpdate:
        """The backlog again, posts and all, after a replay: what attaching now would show."""
        self.last_post_id, self._slow_due = 0, True
        return await self.backlog()

    async def at(self, event_id: int) -> At:
        """The moment of an event: its id and time (``NoFurther`` for an id the run does not have)."""
        found = await self.store.event_beside(event_id + 1, -1)
        if found is None or found[0] != event_id:
            raise NoFurther(f"this run has no event #{event_id}")
        return At(*found)

    async def step(self, at: At, unit: StepUnit, direction: int) -> At:
        """The replay's moment one event, minute or submission on (``direction`` > 0) or back."""
        return await replay_step(self.store, at, unit, direction)

    async def moment(self, event_id: int) -> RunUpdate:
        """The run as it was at event ``event_id`` (``aar.replay.state_at``), as one update that fills the
        screen: the newest events up to it, the agents, posts, leaderboard, flagged submissions, evaluator queue
        and open inbox count of then. Writes nothing, and leaves the live follow where it was."""
        then = await state_at(self.store, event_id)
        return RunUpdate(
            events=then.events,
            agents=then.agents,
            posts=then.posts,
            post_count=then.post_count,
            state=then.state,
            leaderboard=then.leaderboard,
            references=then.references,
            flagged=then.flagged,
            run_isolation=await self.store.get_meta("isolation", "") or "",
            queue=QueueCounts(queued=then.queue.queued, running=then.queue.running, failed=then.queue.failed),
            inbox_open=then.inbox_open,
        )

    async def resolve_at(self, text: str) -> int:
        """The event of a moment as ``aar attach --at`` gives it (``3h``, ``2026-11-30T03:00``, ``event:123``):
        the last event at or before it. A finished, stopped or crashed run ends at its last event; a live one
        now. Raises ``MomentError`` in one line (malformed, before the start, after the end, no such event)."""
        span = await replay_bounds(self.store)
        if span is None:
            raise MomentError("this run has no event yet, so no moment to show")
        stored = await self.store.get_meta("state", "created") or "created"
        live = observed_state(stored, holder_pid(self.paths.lock)) in LIVE_STATES
        spec = parse_at(text, start_ts=span[0], end_ts=None if live else span[1], now=time.time())
        return await resolve_moment(self.store, spec)

    def _writable(self, what: str) -> None:
        if self.replaying:
            raise ReplayRefused(f"this is a replay, so {what} is not written; L goes back to live")

    # ------------------------------------------------------------ reads on demand

    async def leaderboard(self) -> list[LeaderboardRow]:
        return await self.store.leaderboard()

    async def jobs(self, limit: int = 200) -> list[JobRow]:
        return await self.store.jobs(limit=limit)

    async def cluster(self) -> EvalClusterChanged | None:
        """The Ray cluster the evaluator's jobs run on, as the daemon last saw it; None on the local backend."""
        rows = await self.store.events_of([CLUSTER_KIND], newest=1)
        payload = rows[-1].payload if rows else None
        return payload if isinstance(payload, EvalClusterChanged) else None

    async def submission_agents(self) -> dict[int, str]:
        """Who made each submission (the jobs screen names the agent behind each job)."""
        return {s.id: s.agent for s in await self.store.submissions()}

    async def commands(self, limit: int = 200) -> list[CommandRow]:
        return await self.store.commands(limit=limit)

    async def inbox(self, *, limit: int = INBOX_SHOWN) -> tuple[list[InboxRow], int]:
        """The open inbox items, ranked (the first ``limit``), and how many are open in all."""
        return await self.store.inbox(limit=limit), await self.store.inbox_open_count()

    async def acknowledge(self, item_ids: list[int], by: str) -> int:
        """Record that ``by`` saw these inbox items; returns how many were new."""
        self._writable("an acknowledgement")
        return await self.store.acknowledge(item_ids, by)

    async def transcript(self, agent: str, *, after_id: int = 0) -> list[MessageRow]:
        return await self.store.transcript(agent, after_id=after_id)

    async def posts(self, *, limit: int = 500) -> list[PostRow]:
        return await self.store.posts(limit=limit)

    async def search_posts(self, query: str) -> list[PostRow]:
        return await self.store.search_posts(query)

    async def timeline(self, upto_id: int | None = None, *, after: Timeline | None = None) -> Timeline:
        """The run over wall time, a lane per agent with its marks (``aar.timeline``), up to ``upto_id``;
        ``after``: the timeline read before, which only the events since are added to (itself if there are none)."""
        return await load_timeline(self.store, upto_id=upto_id, after=after)

    async def step_at(self, agent: str, event_id: int) -> int | None:
        """The step ``agent`` was at when ``event_id`` was written (where a timeline's mark opens its transcript)."""
        return await timeline_step_at(self.store, agent, event_id)

    async def event_at(self, ts: float) -> int:
        """The first event written at or after ``ts`` (a search hit's moment, to replay)."""
        return await self.store.first_event_at(ts)

    async def search(self, query: str, *, limit: int = SEARCH_HITS) -> list[SearchHit]:
        """The newest ``limit`` matches of ``query`` (FTS5) in every transcript and post; a query FTS5 cannot
        parse is an ``AarError`` in one line (``aar search``'s)."""
        try:
            return await self.store.search(query, limit=limit)
        except SearchQueryError as exc:
            raise AarError(str(exc)) from None

    async def thread(self, post_id: int) -> list[PostRow]:
        """A post and its replies, oldest first."""
        post = await self.store.post(post_id)
        if post is None:
            return []
        root = post if post.parent_id is None else (await self.store.post(post.parent_id) or post)
        return [root, *await self.store.posts(parent_id=root.id)]

    async def workspace_files(self, agent: str) -> list[WorkspaceFile]:
        return await asyncio.to_thread(_list_files, self.paths.workspace(agent))

    async def snapshots_of(self, agent: str) -> list[SnapshotRow]:
        """``agent``'s workspace snapshots, oldest first (without their file lists)."""
        return await self.store.snapshots(agent)

    async def snapshot_files(self, snapshot_id: int) -> list[WorkspaceFile]:
        """The files of a workspace snapshot, as the listing of the workspace shows them."""
        row = await self.store.snapshot(snapshot_id)
        if row is None:
            raise AarError(f"snapshot #{snapshot_id} is gone (pruned under run.snapshot_budget_mb)")
        return [WorkspaceFile(e.path, e.size) for e in row.manifest or []]

    async def read_snapshot_file(self, snapshot_id: int, relative: str) -> str:
        """A file's text as it was in a snapshot (the first 256 KiB, as ``read_workspace_file``)."""
        raw = await snapshots.read_file(self.store, self.paths.root, snapshot_id, relative, limit=MAX_FILE_BYTES + 1)
        more = len(raw) > MAX_FILE_BYTES
        return raw[:MAX_FILE_BYTES].decode("utf-8", errors="replace") + ("\n… (truncated)" if more else "")

    async def read_workspace_file(self, agent: str, relative: str) -> str:
        """A workspace file's text (the first 256 KiB), read as the agents' file tools read: relative to
        the workspace's directory fd, no link followed, non-blocking, regular files only (``aar.confined``)."""
        root = Root(self.paths.workspace(agent))

        def read() -> str:
            raw, more = root.head(relative, MAX_FILE_BYTES, any_name=True)  # a name the listing showed
            return raw.decode("utf-8", errors="replace") + ("\n… (truncated)" if more else "")

        try:
            return await asyncio.to_thread(read)
        except ConfinedError as exc:
            raise AarError(f"{agent}: {exc}") from None

    async def progress(self) -> Progress:
        """The progress chart's series (``aar.progress``); each read after the first costs only the new spend."""
        return await self._progress.read(self.store)

    async def review(self) -> list[Candidate]:
        """The review desk's candidates: the best ``review_top`` verified methods, then every reviewed one."""
        return await review_candidates(self.store, self.info.review_top, throughput=throughput_line)

    async def verdicts(self) -> dict[int, VerdictRow]:
        """The verdict that stands on each reviewed submission."""
        return await self.store.verdicts()

    async def review_detail(self, submission_id: int) -> ReviewDetail:
        """A candidate's source, the same agent's method before it, and the steps that led to it."""
        sub = await self.store.submission(submission_id)
        if sub is None:
            raise AarError(f"no submission #{submission_id} in this run")
        return await review_detail(self.store, sub)

    # ------------------------------------------------------------ writes

    async def command(self, command: Command, target: str) -> int:
        """Write a supervisor command; the daemon applies it and reports a ``command.applied`` event."""
        self._writable(f"the {command.kind} command")
        return await self.store.issue_command(command, target)

    async def branch(self, command: Branch, target: str) -> int:
        """Write a ``branch`` command, in a replay too: it acts on the present (a new agent starts now from the
        past step shown) and changes nothing of the past."""
        return await self.store.issue_command(command, target)

    async def daemon_alive(self) -> bool:
        """A daemon holds the run now (so a command written now is applied)."""
        return holder_pid(self.paths.lock) is not None

    async def last_step(self, agent: str, *, upto_id: int | None = None) -> int:
        """``agent``'s last step at or before event ``upto_id`` (now: None); 0 before its first."""
        rows = await self.store.events_of(["agent.step"], agent=agent, upto_id=upto_id, newest=1)
        for row in rows:
            if isinstance(row.payload, AgentStepCompleted):
                return row.payload.step
        branch = await self.store.branch(agent)
        return branch.step if branch is not None else 0

    async def post(self, title: str, body: str, *, parent_id: int | None = None) -> int:
        """Post to the forum as the supervisor (agents read it with their forum tools)."""
        self._writable("a forum post")
        if not body.strip():
            raise CommandRejected("a forum post needs a body")
        return await self.store.add_post(
            SUPERVISOR, title.strip() or body.strip().splitlines()[0][:60], body, parent_id=parent_id
        )

    async def verdict(self, submission_id: int, verdict: Verdict, note: str, *, by: str) -> VerdictRow:
        """The supervisor's verdict on a submission: an event and a forum post from ``supervisor`` that tells
        the team (what ``aar review --verdict`` writes)."""
        self._writable("a verdict")
        return await self.store.record_verdict(submission_id, verdict, note, by=by)


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
