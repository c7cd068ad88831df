"""What the TUI knows about a run: the store's rows folded into bounded view state.

The store keeps everything; the screen shows the newest few hundred lines of
each agent. ``RunModel.apply`` folds a batch of rows (``RunUpdate``) into
per-agent tails and returns what changed, so widgets redraw only what they
must. Nothing here imports Textual: it is plain data, tested on its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aar.describe import Tone, describe
from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    ApprovalRequested,
    ClaimChecked,
    CommandApplied,
    CommandIssued,
    DiskLow,
    ErrorRaised,
    EvalJobChanged,
    EventPayload,
    ModelText,
    RunLog,
    RunStateChanged,
    SandboxExited,
    SandboxLifecycle,
    SandboxOutput,
    SubmissionCreated,
    ToolCalled,
    ToolReturned,
    Unreadable,
)
from aar.pulse import SILENT_S
from aar.store import AgentRow, EventRow, LeaderboardRow, PostRow, ReferenceRow, SubmissionRow
from tui.text import clip, one_line, visible

TAIL_LINES = 300
"""Lines kept per agent tail on screen."""
POSTS_KEPT = 500

_ENDED = frozenset({"stopped", "finished", "error", "out_of_budget"})

LINE_MARKS: dict[str, str] = {"thinking": "~ ", "err": "2> "}
"""What starts a line of these kinds, so they differ from plain text and stdout without colour (NO_COLOR)."""

LineKind = Tone
"""How a line is drawn: the tone ``aar.describe`` gives the event it tells."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line on screen, made on demand for the lines a widget draws (``Tail`` stores plain tuples)."""

    kind: LineKind
    text: str
    """Already made visible (no control characters) and clipped."""


class Tail:
    """A bounded list of lines; streamed chunks of one kind join the open last line.

    Lines are kept as plain ``(kind, text)`` tuples of strings, which the
    garbage collector stops tracking the first time it sees them: under a flood
    every agent writes thousands of lines a second, and as objects each one
    would be scanned again by every full collection while it stays on screen.
    """

    def __init__(self, maxlen: int = TAIL_LINES) -> None:
        self._lines: deque[tuple[LineKind, str]] = deque(maxlen=maxlen)
        self._open: LineKind | None = None

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def lines(self) -> list[Line]:
        return [Line(kind, text) for kind, text in self._lines]

    def write(self, kind: LineKind, text: str, *, stream: bool = False) -> None:
        lines = self._lines
        mark = LINE_MARKS.get(kind, "")
        parts = visible(text).split("\n")
        joined = stream and self._open == kind and bool(lines)
        head = lines.pop()[1] if joined else mark
        for part in parts[:-1]:
            lines.append((kind, clip(head + part)))
            head = mark
        ends_open = bool(parts[-1]) or (joined and len(parts) == 1)
        if ends_open or not stream:
            lines.append((kind, clip(head + parts[-1])))
        self._open = kind if stream and ends_open else None

    def last(self, n: int) -> list[Line]:
        lines = self._lines
        start = max(len(lines) - max(n, 0), 0)
        return [Line(*lines[i]) for i in range(start, len(lines))]


@dataclass
class PendingCall:
    call_id: str
    tool: str
    input: dict[str, Any]


@dataclass
class AgentView:
    row: AgentRow
    tail: Tail = field(default_factory=Tail)
    """Everything the agent does: text, tool calls and results, sandbox output, status, commands."""
    sandbox: Tail = field(default_factory=Tail)
    """Its sandbox commands and their output only."""
    pending: dict[str, PendingCall] = field(default_factory=dict)
    """Tool calls waiting for the supervisor's approval, oldest first."""
    daemon_gone: bool = False
    """The run crashed: the stored status is what the agent was doing when its daemon died."""

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def status(self) -> str:
        """The status to show: ``no_daemon`` for an agent that has not ended but has no daemon to run it."""
        return "no_daemon" if self.daemon_gone and self.row.status not in _ENDED else self.row.status

    def oldest_pending(self) -> PendingCall | None:
        return next(iter(self.pending.values()), None)


@dataclass(frozen=True)
class ReplayMark:
    """The moment a replay shows: the last event folded, and its time."""

    event_id: int
    ts: float


@dataclass(frozen=True)
class QueueCounts:
    queued: int = 0
    running: int = 0
    failed: int = 0


@dataclass
class RunUpdate:
    """One batch read from the store by ``RunClient.poll``."""

    events: list[EventRow] = field(default_factory=list)
    """New events, each payload parsed once by the store (a model, or ``Unreadable``)."""
    agents: list[AgentRow] = field(default_factory=list)
    posts: list[PostRow] = field(default_factory=list)
    post_count: int | None = None
    """Posts in the store, read when new ones arrive (the model keeps the newest ``POSTS_KEPT``)."""
    state: str = ""
    leaderboard: list[LeaderboardRow] | None = None
    references: list[ReferenceRow] | None = None
    """The evaluator's own baselines (vanilla, unsupervised), shown among the submissions as lines to beat."""
    flagged: list[SubmissionRow] | None = None
    """Rejected, failed and flagged submissions (read with the leaderboard)."""
    run_isolation: str = ""
    """What isolates the run's sandboxes, as the daemon recorded it (``none``: an UNISOLATED run)."""
    disk_low: DiskLow | None = None
    """The daemon's standing warning that the run's disk is full (the team waits for space), if any."""
    daemon_silent_s: float | None = None
    """Seconds since the daemon's heartbeat (None: no heartbeat file, an older daemon's run)."""
    queue: QueueCounts | None = None
    revised: list[PostRow] = field(default_factory=list)
    """Posts read again because they were quarantined, restored, pinned or had their claims checked."""
    inbox_open: int | None = None
    """Open items in the supervisor's inbox, when this poll read it."""


@dataclass
class Changes:
    agents: set[str] = field(default_factory=set)
    roster: bool = False
    """Agents were added (widgets must be created)."""
    posts: bool = False
    board: bool = False
    status: bool = False
    """The status bar's data changed: an agent's row (spend, isolation), the run's state or log, the queue.
    An agent's output alone does not redraw it."""
    applied: list[CommandApplied] = field(default_factory=list)
    """The ``command.applied`` events of this batch."""
    revised: bool = False
    """Posts already shown changed (moderation, checked claims): lists of posts are drawn again."""


class RunModel:
    """The view state of one run, fed by ``apply``."""

    def __init__(self, run_id: str, *, dollar_cap: float = 0.0, device: str = "") -> None:
        self.run_id = run_id
        self.dollar_cap = dollar_cap
        self.device = device
        self.devices: tuple[str, ...] = (device,) if device else ()
        """The evaluator's devices (the status bar counts the busy ones)."""
        self.state = ""
        self.agents: dict[str, AgentView] = {}
        self.posts: deque[PostRow] = deque(maxlen=POSTS_KEPT)
        self.post_count = 0
        self.leaderboard: list[LeaderboardRow] = []
        self.references: list[ReferenceRow] = []
        self.flagged: list[SubmissionRow] = []
        self.unisolated = False
        """Set for good once the daemon records that the run has no isolation."""
        self.disk_low: DiskLow | None = None
        """Set while the team waits for space on the run's disk."""
        self.daemon_silent_s: float | None = None
        """Seconds since the daemon last beat, as of the last poll."""
        self.queue = QueueCounts()
        self.log = Tail(100)
        self.last_event_id = 0
        self.problem: str | None = None
        """Why the store cannot be read right now, shown in the status bar until a poll succeeds."""
        self.inbox_open = 0
        """Open items in the supervisor's inbox (the status bar's badge)."""
        self.replay: ReplayMark | None = None
        """Set while the screen shows a past moment (replay), not the live run."""

    @property
    def spend(self) -> float:
        return sum(v.row.cost_usd for v in self.agents.values())

    @property
    def isolation(self) -> str:
        return ", ".join(sorted({v.row.isolation for v in self.agents.values() if v.row.isolation}))

    def agent_names(self) -> list[str]:
        return list(self.agents)

    def rewind(self) -> Changes:
        """Forget what was folded, before a replay's moment (or the live run again) is folded afresh.

        The agents stay registered (their panes hold these views), each blanked to a row of no steps, no
        spend and ``idle``: an agent the moment does not list had not started then. Returns every change.
        """
        for view in self.agents.values():
            view.row = view.row.model_copy(update=_BLANK_AGENT)
            view.tail, view.sandbox = Tail(), Tail()
            view.pending.clear()
        self.state, self.problem = "", None
        self.posts.clear()
        self.post_count = 0
        self.leaderboard, self.references, self.flagged = [], [], []
        self.queue, self.log = QueueCounts(), Tail(100)
        self.last_event_id = self.inbox_open = 0
        self.disk_low = None
        return Changes(agents=set(self.agents), roster=True, posts=True, board=True, status=True, revised=True)

    def apply(self, update: RunUpdate) -> Changes:
        changes = Changes()
        for row in update.agents:
            view = self.agents.get(row.name)
            if view is None:
                self.agents[row.name] = AgentView(row)
                changes.roster = changes.status = True
                changes.agents.add(row.name)
            elif view.row != row:
                view.row = row
                changes.agents.add(row.name)
                changes.status = True
        for event in update.events:
            if isinstance(event.payload, Unreadable):
                # An event this TUI cannot read (a newer daemon's, a damaged row) is noted, not fatal.
                self.log.write("error", describe(event, "pane").text)
                changes.status = True
            else:
                self._fold(event, event.payload, changes)
            self.last_event_id = max(self.last_event_id, event.id)
        if update.posts:
            self.posts.extend(update.posts)
            self.post_count = max(update.post_count or 0, len(self.posts))
            changes.posts = True
        if update.revised:
            by_id = {p.id: p for p in update.revised}
            self.posts = deque((by_id.get(p.id, p) for p in self.posts), maxlen=POSTS_KEPT)
            changes.posts = changes.revised = True
        if update.state and update.state != self.state:
            self.state = update.state
            changes.status = True
        gone = self.state == "crashed"
        for view in self.agents.values():
            if view.daemon_gone != gone:
                view.daemon_gone = gone
                changes.agents.add(view.name)
        if update.leaderboard is not None and update.leaderboard != self.leaderboard:
            self.leaderboard = update.leaderboard
            changes.board = True
        if update.references is not None and update.references != self.references:
            self.references = update.references
            changes.board = True
        if update.flagged is not None and update.flagged != self.flagged:
            self.flagged = update.flagged
            changes.board = True
        if (update.daemon_silent_s or 0) >= SILENT_S or (self.daemon_silent_s or 0) >= SILENT_S:
            changes.status = True
        self.daemon_silent_s = update.daemon_silent_s
        if update.disk_low != self.disk_low:
            self.disk_low = update.disk_low
            changes.status = True
        if update.run_isolation == "none" and not self.unisolated:
            self.unisolated = True
            changes.status = True
        if update.queue is not None and update.queue != self.queue:
            self.queue = update.queue
            changes.status = True
        if update.inbox_open is not None and update.inbox_open != self.inbox_open:
            self.inbox_open = update.inbox_open
            changes.status = True
        return changes

    def _fold(self, event: EventRow, p: EventPayload, changes: Changes) -> None:
        view = self.agents.get(event.agent) if event.agent else None
        if view is None:
            self._fold_run(event, p)
            changes.status = True
            if isinstance(p, CommandApplied):
                changes.applied.append(p)
            return
        changes.agents.add(view.name)
        match p:
            case ModelText():  # streamed: chunks join the open line
                view.tail.write("thinking" if p.thinking else "text", p.text, stream=True)
                return
            case SandboxOutput():
                line_kind: LineKind = "err" if p.stream == "stderr" else "out"
                view.tail.write(line_kind, p.text.removesuffix("\n"))
                view.sandbox.write(line_kind, p.text.removesuffix("\n"))
                return
            case SandboxExited():  # the sandbox pane's own line
                exited = describe(event, "pane")
                view.sandbox.write(exited.tone, exited.text)
                return
            case ToolCalled(tool="bash"):
                view.sandbox.write("tool", f"$ {one_line(str(p.input.get('command', '')), 300)}")
            case ToolReturned():
                view.pending.pop(p.call_id, None)
            case AgentStatusChanged() if p.status in _ENDED or p.status == "running_tool":
                view.pending.clear()  # an agent runs a tool only once no call waits
            case ApprovalRequested():
                view.pending[p.call_id] = PendingCall(p.call_id, p.tool, p.input)
            case CommandApplied():
                changes.applied.append(p)
            case ClaimChecked(verdict="verified"):
                return  # the post's own marks show it
            case _ if isinstance(p, _QUIET):
                return  # the agent's row, the leaderboard and the queue show them
        line = describe(event, "pane")
        view.tail.write(line.tone, line.text)

    def _fold_run(self, event: EventRow, p: EventPayload) -> None:
        if isinstance(p, RunStateChanged | ErrorRaised | RunLog | CommandApplied):
            line = describe(event, "pane")
            self.log.write(line.tone, line.text)


_BLANK_AGENT: dict[str, object] = {
    "status": "idle",
    "steps": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "cost_usd": 0.0,
}
"""An agent's counters before its first step."""

_QUIET = (RunStateChanged, AgentStepCompleted, SandboxLifecycle, SubmissionCreated, EvalJobChanged, CommandIssued)
"""Events of an agent its activity does not show: its row, the leaderboard and the queue do."""
