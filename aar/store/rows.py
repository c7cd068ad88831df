"""Typed rows read back from the run store."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from aar.commands import Command
from aar.eval_jobs import JobSpec, JobStats, UnreadableSpec, parse_spec
from aar.events import AgentStatus, EventPayload, Unreadable, Verdict, read_payload
from aar.snapshot_blobs import SnapshotEntry


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class EventRow(_Row):
    """One stored event, its payload parsed once as it was read: a model of ``aar.events``, or ``Unreadable``
    (readers ``match`` on the classes and skip an unreadable one, saying so once)."""

    id: int
    ts: float
    agent: str | None
    kind: str
    """The row's ``kind`` column (an ``Unreadable`` carries it too)."""
    payload: EventPayload | Unreadable

    @classmethod
    def read(cls, row: Any) -> EventRow:
        """A stored row (``id, ts, agent, kind, payload`` with the payload as its JSON text), parsed; never raises."""
        kind = str(row["kind"])
        return cls.model_construct(
            id=row["id"], ts=row["ts"], agent=row["agent"], kind=kind, payload=read_payload(kind, row["payload"])
        )


class RawEventRow(_Row):
    """One stored event with its payload as the JSON text on disk: only for code that copies or rebuilds rows
    without reading them (readers take ``EventRow``)."""

    id: int
    ts: float
    agent: str | None
    kind: str
    payload: str


class AgentRow(_Row):
    name: str
    backend: str
    model: str
    direction: str = ""
    status: AgentStatus = "idle"
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    isolation: str = ""
    approval: bool = False
    started_ts: float | None = None
    updated_ts: float = 0.0
    lineage: str = ""
    """A branch's parent and the step it started after (``agent-2@35``); empty for an agent of the config."""


class MessageRow(_Row):
    id: int
    agent: str
    step: int
    role: str
    content: Any
    """The message content exactly as sent to the model (a string or a list of blocks)."""
    ts: float


class PostClaim(_Row):
    """A number a post states, checked against its author's evaluator results (``forum.claim`` events)."""

    metric: Literal["pgr", "accuracy"]
    value: float
    claim: str
    """The text the number was read from."""
    verdict: Literal["verified", "contradicted"]
    submission_id: int | None = None
    """The submission whose result supports it, when verified."""

    def describe(self, author: str) -> str:
        """``✓ PGR 0.71 matches a result the evaluator showed <author> (submission #3)``, or ``✗ ... matches no
        result ...``: what the checker knows is only what the author was shown."""
        what = f"{'PGR' if self.metric == 'pgr' else 'accuracy'} {self.value:g}"
        if self.verdict == "verified":
            return f"✓ {what} matches a result the evaluator showed {author} (submission #{self.submission_id})"
        return f"✗ {what} matches no result the evaluator showed {author}"


class PostRow(_Row):
    id: int
    ts: float
    author: str
    parent_id: int | None
    title: str
    body: str
    status: Literal["visible", "quarantined"] = "visible"
    """``quarantined``: withheld from the agents (``moderation`` says why); the store keeps it."""
    moderation: str = ""
    """Why the post was quarantined, and by whom."""
    pinned: bool = False
    """Guidance every agent reads first."""
    claims: list[PostClaim] = []
    """The PGR and accuracy numbers it states, as checked (empty until checked, or when it states none)."""

    @property
    def quarantined(self) -> bool:
        return self.status == "quarantined"


class SubmissionRow(_Row):
    id: int
    ts: float
    agent: str
    kind: str
    payload: dict[str, Any]
    status: str
    flags: list[str]
    error: str
    label: str
    links: list[str] = []
    """Relations to earlier submissions that are not flags (``method behind #N``), shown beside it."""


class JobRow(_Row):
    id: int
    ts: float
    kind: str
    submission_id: int | None
    spec: JobSpec | UnreadableSpec
    """What the job asks for, read from its kind column and its JSON spec; ``UnreadableSpec`` when invalid."""
    status: Literal["queued", "running", "done", "failed"]
    attempts: int
    progress: float
    detail: str
    error: str
    worker: str
    updated_ts: float
    device: str = ""
    """The pool device the latest attempt ran on (``cuda:1``, ``cpu:0``)."""
    claimed_ts: float | None = None
    """When the latest attempt started."""
    device_s: float = 0.0
    """Device-seconds spent on the job over every finished attempt (GPU-seconds on a GPU)."""
    stats: JobStats = JobStats()
    """The job's training throughput; all zero until it is done, or when it trained nothing."""

    @field_validator("spec", mode="before")
    @classmethod
    def _parse_spec(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, BaseModel):
            return value
        return parse_spec(str(info.data.get("kind", "")), value)


TRANSFER_SPLIT = "transfer"
"""The split of a transfer target's score (``aar transfer``): the target's feedback split, never the home task's."""


class ResultRow(_Row):
    id: int
    ts: float
    job_id: int
    submission_id: int | None
    split: str
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    metrics: dict[str, Any]
    flags: list[str]

    @property
    def target(self) -> str:
        """The transfer target scored here; empty for the home task's splits."""
        return str(self.metrics.get("target", "")) if self.split == TRANSFER_SPLIT else ""


class CommandRow(_Row):
    id: int
    ts: float
    target: str
    """An agent's name, ``*`` for every running agent, ``@run`` for the run."""
    kind: str
    payload: dict[str, Any]
    status: str
    effect: str
    applied_ts: float | None
    command: Command | None = None
    """The parsed command; None when the row does not validate (``problem`` says why)."""
    problem: str = ""


class LeaderboardRow(_Row):
    result_id: int
    """One row per evaluator result (a submission re-scored on a split has two)."""
    agent: str
    submission_id: int
    kind: str
    label: str
    """What was submitted: the method's or the predictions' file name."""
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    flags: list[str]
    split: str
    ts: float
    links: list[str] = []
    """The submission's relations that are not flags (``SubmissionRow.links``)."""


class ReferenceRow(_Row):
    """A baseline the evaluator scored itself (no submission): a line to measure submissions against."""

    result_id: int
    baseline: str
    """``vanilla`` (naive transfer) or ``unsupervised`` (the weak labels only name clusters)."""
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    split: str
    ts: float

    @property
    def label(self) -> str:
        return REFERENCE_LABELS.get(self.baseline, self.baseline)


REFERENCE_LABELS = {
    "vanilla": "vanilla transfer",
    "unsupervised": "unsupervised clusters",
}


JSON_COLUMNS = frozenset({"payload", "spec", "metrics", "flags", "content", "claims", "stats", "links"})


def decode(row: Any) -> dict[str, Any]:
    """A sqlite3.Row as a dict with its JSON columns parsed."""
    out = dict(row)
    for key in JSON_COLUMNS.intersection(out):
        out[key] = json.loads(out[key])
    return out


class InboxRow(_Row):
    """One item of the supervisor's inbox, with its acknowledgement if any."""

    id: int
    source_event: int
    """The event that raised it (the inbox is derived from the log, one item per event)."""
    ts: float
    agent: str | None
    kind: str
    """``approval``, ``ask``, ``monitor``, ``claim``, ``flagged``, ``budget``, ``eval_failed``, ``sandbox``,
    ``warning`` or ``error``."""
    rank: int
    """0 blocks an agent, 1 is an alert, 2 is a notice."""
    summary: str
    call_id: str | None = None
    post_id: int | None = None
    submission_id: int | None = None
    job_id: int | None = None
    cleared_event: int | None = None
    """The event that settled it (the call was decided, the agent went on or ended)."""
    ack_by: str | None = None
    ack_ts: float | None = None
    subject: str = ""
    """What it is about: ``post:7``, ``submission:4``, ``job:9``, ``call:agent-1:c3``, or ``item:ID`` (itself).
    The inbox lists one row per subject, this item standing for the group (the most urgent, then newest)."""
    item_ids: list[int] = []
    """Every item of its group, this one first; acknowledging the row acknowledges them all."""
    reasons: list[str] = []
    """The group's summaries, in the order of ``item_ids``: one contradicted post, flagged by a monitor and
    by two claim checks, is one row with three reasons."""

    @property
    def is_open(self) -> bool:
        return self.cleared_event is None and self.ack_ts is None


class BudgetChangeRow(_Row):
    """One budget change the supervisor made (a ``budget`` command; a move is two rows)."""

    id: int
    command_id: int
    ts: float
    agent: str
    resource: str
    """``dollars``, ``tokens`` or ``wall_clock_s``."""
    delta: float
    """Added to the agent's budget (negative: taken away)."""
    source: str
    """Another agent's name (moved), ``pool`` (the run's dollar cap) or empty."""


class VerdictRow(_Row):
    """The supervisor's verdict on a submission, read back from its ``review.verdict`` event."""

    event_id: int
    ts: float
    submission_id: int
    agent: str | None
    """The submission's author."""
    verdict: Verdict
    note: str
    by: str
    post_id: int | None = None
    """The forum post that told the team."""


class SnapshotRow(_Row):
    """A snapshot of an agent's workspace after a step (``aar.snapshots``)."""

    id: int
    agent: str
    step: int
    ts: float
    """When the walk of the workspace started."""
    reason: str
    """Why it was taken (``start``, ``interval``, ``submission``...)."""
    files: int
    bytes: int
    """The files' total size."""
    added_bytes: int
    """The size of the blobs it wrote: the content no earlier snapshot had."""
    skipped: int
    """Files (and folders, links, special files, bad names) left out of it: over a limit, or not regular files."""
    pinned: bool = False
    """Referred to by a submission or a branch: ``aar.snapshots.prune`` keeps it."""
    manifest: list[SnapshotEntry] | None = None
    """Its files, in walk order; None where it was not read (listings)."""
