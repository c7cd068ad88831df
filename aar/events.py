"""Event payloads: what the daemon, the evaluator and the agents say happened.

The ``events`` table is the run's bus and record. Each row has a ``kind`` and
a JSON payload; the payload's shape is one of the models below, tagged by its
``kind`` literal. The store parses each row once as it reads it (``read_payload``)
and hands out the model, or ``Unreadable`` for a row of no known shape (a newer
daemon's kind, a missing field, truncated JSON), so every reader ``match``es on
the classes and skips an unreadable event on its own, never a batch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aar.escape import one_line

SCHEMA_VERSION = 1
"""Version of the event payload shapes; bump with a store migration."""

RunState = Literal["created", "starting", "running", "stopping", "stopped", "finished", "crashed"]
AgentStatus = Literal[
    "idle",
    "thinking",
    "running_tool",
    "paused",
    "waiting_approval",
    "finished",
    "stopped",
    "out_of_budget",
    "error",
]

LogLevel = Literal["debug", "info", "warning", "error"]
LifecycleAction = Literal["started", "stopped", "restarted", "recreated", "failed"]
"""What happened to a sandbox."""


class Payload(BaseModel):
    """The base of every event payload (readers narrow a row from a bare payload with it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunStateChanged(Payload):
    kind: Literal["run.state"] = "run.state"
    state: RunState
    reason: str = ""


class RunLog(Payload):
    """A line of the daemon's own narrative (startup, lock take-over, shutdown)."""

    kind: Literal["log"] = "log"
    level: LogLevel = "info"
    message: str


class AgentStatusChanged(Payload):
    kind: Literal["agent.status"] = "agent.status"
    status: AgentStatus
    detail: str = ""


class AgentStepCompleted(Payload):
    """One step of an agent finished; token counts are this step's, not totals."""

    kind: Literal["agent.step"] = "agent.step"
    step: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0


class ModelText(Payload):
    """A chunk of the model's visible text or thinking, as it streams."""

    kind: Literal["model.text"] = "model.text"
    step: int
    text: str
    thinking: bool = False


class ToolCalled(Payload):
    kind: Literal["tool.call"] = "tool.call"
    step: int
    call_id: str
    tool: str
    input: dict[str, Any]


class ToolReturned(Payload):
    """A tool's result as the model saw it (``output`` may be truncated there; the store keeps it whole)."""

    kind: Literal["tool.result"] = "tool.result"
    step: int
    call_id: str
    tool: str
    ok: bool
    output: str
    truncated: bool = False


class ApprovalRequested(Payload):
    kind: Literal["approval.requested"] = "approval.requested"
    call_id: str
    tool: str
    input: dict[str, Any]


class SandboxOutput(Payload):
    """Lines a sandbox command printed, in the order they came."""

    kind: Literal["sandbox.output"] = "sandbox.output"
    call_id: str
    stream: Literal["stdout", "stderr"]
    text: str


class SandboxExited(Payload):
    kind: Literal["sandbox.exit"] = "sandbox.exit"
    call_id: str
    exit_code: int | None
    timed_out: bool = False
    killed: bool = False
    duration_s: float = 0.0
    oom_killed: bool = False
    """The kernel killed the command for going over the sandbox's memory limit."""
    touched: list[str] = []
    """Paths outside its workspace the command failed to open (recorded under bubblewrap only)."""


class SandboxLifecycle(Payload):
    kind: Literal["sandbox.lifecycle"] = "sandbox.lifecycle"
    action: LifecycleAction
    backend: str
    isolation: str = ""
    """What isolates the sandbox, e.g. ``docker``, ``bubblewrap`` or ``none``."""
    detail: str = ""
    host: str = ""
    """Which of ``sandbox.hosts`` runs it (its name, else its URL); empty on this machine's own engine."""


class ForumPosted(Payload):
    kind: Literal["forum.post"] = "forum.post"
    post_id: int
    title: str
    parent_id: int | None = None


class SubmissionCreated(Payload):
    kind: Literal["submission.created"] = "submission.created"
    submission_id: int
    submission_kind: Literal["predictions", "method"]
    flags: list[str] = []


class EvalJobChanged(Payload):
    kind: Literal["eval.job"] = "eval.job"
    job_id: int
    job_kind: str
    status: Literal["queued", "running", "done", "failed", "retrying"]
    progress: float = 0.0
    detail: str = ""


class ClusterNode(BaseModel):
    """One node of the Ray cluster evaluator jobs run on, as the daemon last saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str
    """Ray's node id, its first 8 hex digits (what job devices name: ``cpu@3f2a9c1e``)."""
    address: str
    """The node's IP address."""
    alive: bool
    cpus: float = 0.0
    gpus: float = 0.0
    """GPUs the node declares."""
    gpus_busy: float = 0.0
    """GPUs this run's jobs hold on it."""
    jobs: list[int] = []
    """This run's jobs running on it."""


CLUSTER_KIND: Literal["eval.cluster"] = "eval.cluster"


class EvalClusterChanged(Payload):
    """The Ray cluster's nodes, their GPUs and which job runs where (``evaluator.backend = "ray"``); written
    when any of it changes."""

    kind: Literal["eval.cluster"] = CLUSTER_KIND
    address: str
    nodes: list[ClusterNode] = []
    capacity: int = 0
    """Jobs the live nodes can run at once, as each job asks (``[ray]``)."""

    def headline(self) -> str:
        """``2/3 nodes · GPUs 1/2 busy · 2 jobs running`` (what ``aar ls`` and the jobs screen show)."""
        alive = [n for n in self.nodes if n.alive]
        gpus, busy = sum(n.gpus for n in alive), sum(n.gpus_busy for n in alive)
        running = sum(len(n.jobs) for n in alive)
        return f"{len(alive)}/{len(self.nodes)} nodes · GPUs {busy:g}/{gpus:g} busy · {running} jobs running"

    def lines(self) -> list[str]:
        """The headline, then one line per node: its GPUs and the jobs it runs (``aar ls``, the jobs screen)."""
        out = [f"ray {self.address}: {self.headline()}"]
        for n in self.nodes:
            state = f"GPUs {n.gpus_busy:g}/{n.gpus:g} busy, CPUs {n.cpus:g}" if n.alive else "lost"
            jobs = f" · running {', '.join(f'#{j}' for j in n.jobs)}" if n.jobs else ""
            out.append(f"  node {n.node} {n.address} · {state}{jobs}")
        return out


class EvalScored(Payload):
    kind: Literal["eval.result"] = "eval.result"
    job_id: int
    submission_id: int | None
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    flags: list[str] = []
    detail: str = ""


class CommandIssued(Payload):
    kind: Literal["command.issued"] = "command.issued"
    command_id: int
    command: str
    target: str


class CommandApplied(Payload):
    kind: Literal["command.applied"] = "command.applied"
    command_id: int
    command: str
    target: str
    effect: str
    status: Literal["applied", "rejected"] = "applied"
    """``rejected``: the command could not apply (no such agent, no waiting call); ``effect`` says why."""


class BudgetExceeded(Payload):
    kind: Literal["budget.exceeded"] = "budget.exceeded"
    limit: Literal["tokens", "dollars", "wall_clock", "run_dollars", "steps"]
    used: float
    cap: float
    dearest: str = ""
    """For a spend limit: the agent's dearest tools so far, on one line (``bash $1.20 (14 calls), ...``)."""


class ErrorRaised(Payload):
    kind: Literal["error"] = "error"
    message: str
    where: str = ""


class MonitorDecided(Payload):
    """A monitor saw something and acted: the rule, the evidence and the action it took."""

    kind: Literal["monitor.decision"] = "monitor.decision"
    monitor: str
    """Name of the ``[[monitors]]`` entry (or the built-in rule set) that decided."""
    rule: str
    """The rule that fired, e.g. ``label_hunting``."""
    action: Literal["flag", "pause", "quarantine", "stop"]
    reason: str
    """One line a supervisor reads: why this was flagged."""
    evidence: str = ""
    """What it saw: the command, the source line or the post text (cut)."""
    post_id: int | None = None
    submission_id: int | None = None


class ClaimChecked(Payload):
    """A number in a forum post checked against its author's evaluator results."""

    kind: Literal["forum.claim"] = "forum.claim"
    post_id: int
    metric: Literal["pgr", "accuracy"]
    value: float
    claim: str
    """The text the number was read from."""
    verdict: Literal["verified", "contradicted"]
    submission_id: int | None = None
    """The submission whose result supports the claim, when verified."""


class SupervisorAsked(Payload):
    """An agent asked the supervisor a question and waits (paused) for the answer."""

    kind: Literal["agent.ask"] = "agent.ask"
    step: int
    question: str
    call_id: str = ""
    """The ``ask_supervisor`` tool call that asked; an ``answer`` command names it."""


class BudgetWarned(Payload):
    """An agent has used 80% (``fraction``) of one of its budgets, or the run of its dollar cap."""

    kind: Literal["budget.warning"] = "budget.warning"
    limit: Literal["tokens", "dollars", "wall_clock", "run_dollars", "steps"]
    used: float
    cap: float
    fraction: float = 0.8
    """The share of the budget reached when the warning was given."""
    dearest: str = ""
    """For a spend limit: the agent's dearest tools so far, on one line (``bash $1.20 (14 calls), ...``)."""


class BudgetChanged(Payload):
    """The supervisor raised, lowered or moved one of an agent's budgets (a ``budget`` command applied)."""

    kind: Literal["budget.changed"] = "budget.changed"
    command_id: int
    resource: Literal["dollars", "tokens", "wall_clock_s"]
    delta: float
    """What was added to this agent's budget (negative: taken away)."""
    budget: float
    """The agent's budget of ``resource`` after the change."""
    source: str = ""
    """Where it came from or went to: another agent's name, ``pool`` (the run's dollar cap), or empty."""


class WorkspaceRepaired(Payload):
    """At a run's start, an agent's ``task/`` was not the bundle's folder (a link, a FIFO, a file, an altered
    manifest) and was replaced by a clean copy; the agent is the event's agent."""

    kind: Literal["workspace.repaired"] = "workspace.repaired"
    found: str
    """What was there instead, in words (``task was a symbolic link``)."""
    error: str = ""
    """Why the clean copy could not be made, when it could not (the run starts anyway)."""


class DiskLow(Payload):
    """The run's disk is (nearly) full: the team is paused until ``need_mb`` more are free."""

    kind: Literal["disk.low"] = "disk.low"
    path: str
    free_mb: float
    reserve_mb: float
    need_mb: float
    """How much more must be freed before the team goes on."""
    cause: str = ""
    """What showed it: the free space under the reserve, or a write that failed (where, and its error)."""


class DiskBack(Payload):
    """Space is back on the run's disk: the agents the disk guard paused go on."""

    kind: Literal["disk.back"] = "disk.back"
    path: str
    free_mb: float
    paused_s: float
    """How long the team waited."""


class AgentUsage(Payload):
    """Spend charged to an agent outside its steps (a compaction's summary, a monitor's review of its work):
    with the ``agent.step`` events, it sums to the agent's counters."""

    kind: Literal["agent.usage"] = "agent.usage"
    purpose: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0


class NotifySent(Payload):
    """Inbox items went out to the supervisor through a ``[[notify]]`` entry."""

    kind: Literal["notify.sent"] = "notify.sent"
    notifier: str
    items: int
    item_kinds: list[str]
    attempt: int = 1


class NotifyFailed(Payload):
    """A send through a ``[[notify]]`` entry failed; ``final`` when no try is left (the items are dropped)."""

    kind: Literal["notify.failed"] = "notify.failed"
    notifier: str
    items: int
    error: str
    attempt: int
    final: bool = False


Verdict = Literal["accept", "reject", "needs-work"]
"""The supervisor's verdict on a submission: ``accept`` it into the reviewed results, ``reject`` it, or send it
back (``needs-work``)."""


class ReviewVerdict(Payload):
    """The supervisor reviewed a submission (``aar review --verdict``); the event's agent is the submission's
    author. The latest verdict on a submission stands; every one stays in the log."""

    kind: Literal["review.verdict"] = "review.verdict"
    submission_id: int
    verdict: Verdict
    note: str
    """Why, in the supervisor's words (may be empty)."""
    by: str
    """Who gave it: ``supervisor``, or the OS user who ran ``aar review``."""
    post_id: int | None = None
    """The forum post that told the team (author ``supervisor``)."""


class AgentBranched(Payload):
    """A new agent (the event's agent) was branched from ``parent`` at ``step``: it starts with the parent's
    transcript up to that step, the workspace of the nearest snapshot at or before it, and the supervisor's
    guidance as the first thing it reads; the parent is unchanged."""

    kind: Literal["agent.branched"] = "agent.branched"
    command_id: int
    parent: str
    step: int
    """The parent's step the branch starts after."""
    snapshot_id: int
    snapshot_step: int
    """The step of the workspace snapshot it started from (at or before ``step``)."""
    guidance: str
    """The supervisor's guidance, as the branch reads it first."""
    dollars: float = 0.0
    tokens: int = 0
    wall_clock_s: float = 0.0
    """The branch's own budget (0: no limit)."""


EventPayload = Annotated[
    RunStateChanged
    | RunLog
    | AgentStatusChanged
    | AgentStepCompleted
    | ModelText
    | ToolCalled
    | ToolReturned
    | ApprovalRequested
    | SandboxOutput
    | SandboxExited
    | SandboxLifecycle
    | ForumPosted
    | SubmissionCreated
    | EvalJobChanged
    | EvalScored
    | EvalClusterChanged
    | CommandIssued
    | CommandApplied
    | BudgetExceeded
    | ErrorRaised
    | MonitorDecided
    | ClaimChecked
    | SupervisorAsked
    | BudgetWarned
    | BudgetChanged
    | WorkspaceRepaired
    | DiskLow
    | DiskBack
    | NotifySent
    | NotifyFailed
    | AgentUsage
    | ReviewVerdict
    | AgentBranched,
    Field(discriminator="kind"),
]

_ADAPTER: TypeAdapter[EventPayload] = TypeAdapter(EventPayload)

EVENT_CLASSES: tuple[type[Payload], ...] = get_args(get_args(EventPayload)[0])
"""Every payload class, in the order of the union."""
EVENT_KINDS: frozenset[str] = frozenset(get_args(c.model_fields["kind"].annotation)[0] for c in EVENT_CLASSES)
"""Every ``kind`` this aar can read; a row of another kind is ``Unreadable``."""

REASON_CHARS = 300
"""An ``Unreadable``'s reason is cut to one line of this many characters."""


class Unreadable(BaseModel):
    """A stored event whose payload this aar cannot read: a kind it does not know (a newer daemon's), a payload
    that fails validation, or one that is not JSON (a damaged row). Readers skip it and say so once."""

    model_config = ConfigDict(frozen=True)

    kind: str
    """The row's ``kind`` column."""
    reason: str
    """Why it could not be read, on one line (``question: Field required``, ``unknown kind 'agent.dream'``)."""

    def describe(self, event_id: int) -> str:
        """``event 12 (agent.ask) unreadable: question: Field required``: the line a reader records."""
        return f"event {event_id} ({one_line(self.kind, 60)}) unreadable: {self.reason}"


def read_payload(kind: str, raw: object) -> EventPayload | Unreadable:
    """A stored row's payload as its model, or ``Unreadable`` with the reason; never raises.

    ``kind`` is the row's column: a payload that names another kind is unreadable too (the readers that
    filter on the column would otherwise see a model of a kind they did not ask for)."""
    if not isinstance(raw, str | bytes):
        return Unreadable(kind=kind, reason=f"the payload is {type(raw).__name__}, not JSON text")
    try:
        payload = _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        return Unreadable(kind=kind, reason=one_line(_invalid(exc), REASON_CHARS))
    if payload.kind != kind:
        return Unreadable(kind=kind, reason=f"the payload says it is a {one_line(payload.kind, 60)!r} event")
    return payload


def _invalid(exc: ValidationError) -> str:
    """``question: Field required``, each problem by field, without pydantic's banner and links; ``unknown
    kind 'agent.dream'``; ``not JSON (EOF while parsing a string ...)``."""
    problems = []
    for error in exc.errors(include_url=False):
        if error["type"] == "union_tag_invalid":
            problems.append(
                f"unknown kind {error['input'].get('kind')!r}" if isinstance(error["input"], dict) else "unknown kind"
            )
            continue
        if error["type"] == "union_tag_not_found":
            problems.append("no 'kind' field")
            continue
        if error["type"] == "json_invalid":
            problems.append(f"not JSON ({error['msg'].removeprefix('Invalid JSON: ')})")
            continue
        where = ".".join(str(part) for part in error["loc"][1:])  # the first part is the event's kind
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)
