"""Typed rows read back from the run store."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CommandKind = Literal[
    "pause",
    "resume",
    "redirect",
    "interrupt",
    "approve",
    "deny",
    "approval_on",
    "approval_off",
    "stop",
    "stop_run",
]
"""What a supervisor can ask. ``target`` is an agent name, ``*`` for every agent, or ``@run``."""


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class EventRow(_Row):
    id: int
    ts: float
    agent: str | None
    kind: str
    payload: dict[str, Any]


class AgentRow(_Row):
    name: str
    backend: str
    model: str
    direction: str = ""
    status: str = "idle"
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


class MessageRow(_Row):
    id: int
    agent: str
    step: int
    role: str
    content: Any
    """The message content exactly as sent to the model (a string or a list of blocks)."""
    ts: float


class PostRow(_Row):
    id: int
    ts: float
    author: str
    parent_id: int | None
    title: str
    body: str


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


class JobRow(_Row):
    id: int
    ts: float
    kind: str
    submission_id: int | None
    spec: dict[str, Any]
    status: str
    attempts: int
    progress: float
    detail: str
    error: str
    worker: str
    updated_ts: float
    stats: dict[str, Any] = {}
    """The job's training throughput (``evaluator.hf.metrics.TrainingStats.summary``); empty until it is done."""

    @property
    def throughput(self) -> str:
        return throughput_line(self.stats)


def throughput_line(stats: dict[str, Any]) -> str:
    """``812 ex/s · 41.2k tok/s · pad 9% · 1.2 GB cuda · MFU 38%`` from a job's stats ('' when it trained nothing)."""
    if not stats.get("examples"):
        return ""
    parts = [f"{stats['examples_per_s']:.0f} ex/s", f"{_si(stats['tokens_per_s'])} tok/s"]
    parts.append(f"pad {stats['padding_share']:.0%}")
    parts.append(f"{stats['peak_memory_mb'] / 1024:.1f} GB {stats.get('memory_kind', '')}".rstrip())
    if stats.get("mfu") is not None:
        parts.append(f"MFU {stats['mfu']:.0%}")
    return " · ".join(parts)


def _si(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value:.0f}"


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


class CommandRow(_Row):
    id: int
    ts: float
    target: str
    kind: str
    payload: dict[str, Any]
    status: str
    effect: str
    applied_ts: float | None


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


JSON_COLUMNS = frozenset({"payload", "spec", "metrics", "flags", "content", "stats"})


def decode(row: Any) -> dict[str, Any]:
    """A sqlite3.Row as a dict with its JSON columns parsed."""
    out = dict(row)
    for key in JSON_COLUMNS.intersection(out):
        out[key] = json.loads(out[key])
    return out
