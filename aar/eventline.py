"""One plain line per event, for ``--headless`` and logs (no markup, no colour, no escape sequence of an
agent's reaching the terminal). An unreadable event gets its line too, saying why, and the next is printed."""

from __future__ import annotations

import time

from aar import escape
from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    ClaimChecked,
    CommandApplied,
    ErrorRaised,
    EvalJobChanged,
    EvalScored,
    EventPayload,
    ForumPosted,
    ModelText,
    MonitorDecided,
    RunLog,
    RunStateChanged,
    SandboxExited,
    SandboxOutput,
    SupervisorAsked,
    ToolCalled,
    ToolReturned,
    Unreadable,
)
from aar.store import EventRow

_MAX = 160


def _clip(text: str) -> str:
    """One line of agent text for a terminal: controls and escapes spelled out (``aar.escape``), clipped."""
    return escape.one_line(text, _MAX)


def _summary(p: EventPayload) -> str | None:
    match p:
        case RunStateChanged():
            return f"run {p.state}" + (f": {p.reason}" if p.reason else "")
        case AgentStatusChanged():
            return f"status {p.status}" + (f" ({p.detail})" if p.detail else "")
        case AgentStepCompleted():
            return f"step {p.step} done: {p.input_tokens} in / {p.output_tokens} out, ${p.cost_usd:.4f}"
        case ModelText():
            return f"says: {p.text}"
        case ToolCalled():
            return f"calls {p.tool} {p.input}"
        case ToolReturned():
            return f"{p.tool} {'ok' if p.ok else 'ERROR'}: {p.output}"
        case SandboxOutput():
            return f"{p.stream}: {p.text}"
        case SandboxExited():
            return (
                f"command exited {p.exit_code}"
                + (" (timed out)" if p.timed_out else "")
                + (" (killed)" if p.killed else "")
            )
        case ForumPosted():
            return f"posted #{p.post_id}: {p.title}"
        case EvalScored():
            pgr = "n/a" if p.pgr is None else f"{p.pgr:.3f}"
            if p.pgr is not None and p.ci_low is not None and p.ci_high is not None:
                pgr += f" [{p.ci_low:.3f}, {p.ci_high:.3f}]"
            return f"scored submission {p.submission_id}: PGR {pgr}" + (f" flags {p.flags}" if p.flags else "")
        case EvalJobChanged():
            return f"eval job {p.job_id} ({p.job_kind}) {p.status}" + (f": {p.detail}" if p.detail else "")
        case CommandApplied():
            return f"{p.command} -> {p.target}: {p.effect}"
        case RunLog() | ErrorRaised():
            return p.message
        case MonitorDecided():
            return f"monitor {p.monitor} -> {p.action}: {p.reason}"
        case ClaimChecked():
            return f"post #{p.post_id}: {p.claim!r} {p.verdict}" + (
                f" by submission #{p.submission_id}" if p.submission_id else ""
            )
        case SupervisorAsked():
            return f"asks the supervisor ({p.call_id}): {p.question}"
        case _:
            return None


def _fields(payload: EventPayload) -> str:
    """``key=value`` for every field: events without a summary of their own."""
    return " ".join(f"{k}={v}" for k, v in payload.model_dump(exclude={"kind"}).items())


def one_line(row: EventRow) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(row.ts))
    who = escape.one_line(row.agent or "-", 40)
    kind = escape.one_line(row.kind, 40)
    if isinstance(row.payload, Unreadable):
        return f"{stamp} {who:<10} {kind:<18} {_clip(f'unreadable, skipped: {row.payload.reason}')}"
    summary = _summary(row.payload)
    return f"{stamp} {who:<10} {kind:<18} {_clip(summary if summary is not None else _fields(row.payload))}"
