"""One line that says what an event was, for whoever shows it: the TUI's panes, the headless log, the
supervisor's inbox.

``describe(event, audience)`` ``match``es on the payload classes of ``aar.events`` once for every surface,
so a new event kind gets its words in one place. The audiences differ only where their reader does:

- ``pane``: a line of the TUI's activity or run log, marked for reading without colour (``→`` a call,
  ``←`` its result, ``★`` a score, ``⚑`` a command, ``!`` trouble...), with the ``tone`` it is drawn in;
- ``log``: the plain line ``--headless`` prints after its time, agent and kind;
- ``inbox``: the summary of the item an event raises, what the supervisor acts on.

Everything an agent wrote (tool input, output, questions, titles, reasons quoting posts) is data: it is
put on one line with its control characters spelled out (``aar.escape``) and never parsed as markup; the
TUI draws the text as plain text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aar.escape import clip, one_line, visible
from aar.events import (
    AgentBranched,
    AgentStatusChanged,
    AgentStepCompleted,
    AgentUsage,
    ApprovalRequested,
    BudgetChanged,
    BudgetExceeded,
    BudgetWarned,
    ClaimChecked,
    CommandApplied,
    CommandIssued,
    DiskBack,
    DiskLow,
    ErrorRaised,
    EvalClusterChanged,
    EvalJobChanged,
    EvalScored,
    EventPayload,
    ForumPosted,
    ModelText,
    MonitorDecided,
    NotifyFailed,
    NotifySent,
    Payload,
    ReviewVerdict,
    RunLog,
    RunStateChanged,
    SandboxExited,
    SandboxLifecycle,
    SandboxOutput,
    SubmissionCreated,
    SupervisorAsked,
    ToolCalled,
    ToolReturned,
    Unreadable,
    WorkspaceRepaired,
)

if TYPE_CHECKING:
    from aar.store.rows import EventRow

Audience = Literal["pane", "log", "inbox"]
Tone = Literal["text", "thinking", "tool", "result", "error", "out", "err", "status", "command", "approval", "eval"]
"""How a pane draws the line (``tui.model.LineKind``); the other audiences have no style."""

LIMITS: dict[Audience, int] = {"pane": 1000, "log": 160, "inbox": 300}
"""Characters kept of a whole line; the store keeps every event whole."""
PART = 300
"""Characters kept of one piece of agent text inside a line (a tool's output, a question)."""


@dataclass(frozen=True, slots=True)
class Description:
    """What an event was, on one line (agent text escaped), and the tone a pane draws it in."""

    text: str
    tone: Tone = "status"

    def __str__(self) -> str:
        return self.text


def describe(event: EventRow | EventPayload | Unreadable, audience: Audience) -> Description:
    """The line ``audience`` shows for ``event``: a stored row, or a bare payload (no agent, no id)."""
    if isinstance(event, Unreadable | Payload):
        payload, agent, event_id = event, None, None
    else:
        payload, agent, event_id = event.payload, event.agent, event.id
    text, tone = _words(payload, audience, agent, event_id)
    return Description(one_line(text, LIMITS[audience]) if audience != "pane" else _pane_line(text), tone)


def _pane_line(text: str) -> str:
    """A pane's line keeps its own spacing (``  [a approve / d deny]``); its agent parts are already flat."""
    return clip(visible(text).replace("\n", " "), LIMITS["pane"])


def _words(
    p: EventPayload | Unreadable, audience: Audience, agent: str | None, event_id: int | None
) -> tuple[str, Tone]:
    pane = audience == "pane"
    trouble = "! " if pane and agent else ""  # marks the daemon's word in an agent's activity (the run log is all its)
    match p:
        case Unreadable():
            if audience == "log":
                return f"unreadable, skipped: {p.reason}", "error"
            if event_id is None:
                return f"a {_flat(p.kind, 60)} event, unreadable: {p.reason}", "error"
            return p.describe(event_id), "error"
        case RunStateChanged():
            return f"run {p.state}" + (f": {_flat(p.reason)}" if p.reason else ""), "status"
        case RunLog():
            return trouble + _part(p.message), "error" if p.level in ("warning", "error") else "status"
        case ErrorRaised():
            where = f" ({_flat(p.where)})" if p.where else ""
            return f"{trouble}{_part(p.message)}{where}", "error"
        case AgentStatusChanged():
            detail = f" ({_flat(p.detail)})" if p.detail else ""
            return (f"· {p.status}{detail}" if pane else f"status {p.status}{detail}"), "status"
        case AgentStepCompleted():
            return f"step {p.step} done: {p.input_tokens} in / {p.output_tokens} out, ${p.cost_usd:.4f}", "status"
        case ModelText():
            return (_part(p.text) if pane else f"says: {_part(p.text)}"), "thinking" if p.thinking else "text"
        case ToolCalled():
            return (f"→ {p.tool} {tool_args(p.input)}" if pane else f"calls {p.tool} {tool_args(p.input)}"), "tool"
        case ToolReturned():
            said = f"{p.tool} {'ok' if p.ok else 'ERROR'}: {_part(p.output)}"
            return (f"← {said}" if pane else said), "result" if p.ok else "error"
        case ApprovalRequested():
            if pane:
                return f"? approve {p.tool} {tool_args(p.input)}  [a approve / d deny]", "approval"
            return f"wants to run {p.tool} {tool_args(p.input)}", "approval"
        case SandboxOutput():
            return (_part(p.text) if pane else f"{p.stream}: {_part(p.text)}"), "err" if p.stream == "stderr" else "out"
        case SandboxExited():
            how = (
                " (timed out)" if p.timed_out else " (OOM-killed)" if p.oom_killed else " (killed)" if p.killed else ""
            )
            if pane:
                return f"[exit {p.exit_code}{how} in {p.duration_s:.1f}s]", "status"
            if audience == "inbox" and p.oom_killed:
                return f"sandbox command {_flat(p.call_id)} was OOM-killed", "error"
            return f"command exited {p.exit_code}{how}", "status"
        case SandboxLifecycle():
            detail = f": {_flat(p.detail)}" if p.detail else ""
            return f"{trouble}sandbox {p.action}{detail}", "error" if p.action in ("recreated", "failed") else "status"
        case DiskLow():
            return (
                f"disk full: {p.free_mb:.0f} MB free on {_flat(p.path, 120)} ({_flat(p.cause)}); the team is paused "
                f"until {p.need_mb:.0f} MB more are free"
            ), "error"
        case AgentUsage():
            return (
                f"{_flat(p.purpose, 40)}: {p.input_tokens} in / {p.output_tokens} out, ${p.cost_usd:.4f}",
                "status",
            )
        case NotifySent():
            return (
                f"notify {_flat(p.notifier, 40)}: sent {p.items} item(s) ({_flat(', '.join(p.item_kinds))})",
                "status",
            )
        case NotifyFailed():
            end = "; dropped" if p.final else "; retrying"
            return f"notify {_flat(p.notifier, 40)}: try {p.attempt} failed: {_flat(p.error)}{end}", "error"
        case DiskBack():
            return f"disk space is back: {p.free_mb:.0f} MB free after {p.paused_s:.0f}s; the team goes on", "status"
        case WorkspaceRepaired():
            done = f"could not be repaired: {_flat(p.error)}" if p.error else "replaced by a clean copy"
            return f"{trouble}workspace of {_flat(agent or '?', 40)}: {_flat(p.found)}; task/ {done}", "error"
        case ForumPosted():
            return ("✎ " if pane else "") + f"posted #{p.post_id}: {_flat(p.title)}", "status"
        case SubmissionCreated():
            flagged = f" flagged: {', '.join(p.flags)}" if p.flags else " submitted"
            return f"submission #{p.submission_id} ({p.submission_kind}){flagged}", "error" if p.flags else "status"
        case EvalJobChanged():
            detail = f": {_flat(p.detail)}" if p.detail else ""
            return f"{p.job_kind} job {p.job_id} {p.status}{detail}", "error" if p.status == "failed" else "status"
        case EvalScored():
            flags = ", ".join(p.flags)
            if audience == "inbox":
                what = f"submission #{p.submission_id}" if p.submission_id is not None else f"job {p.job_id}"
                return f"{what} scored with flags: {flags}" if flags else f"{what} scored", "eval"
            flags = f" flags {flags}" if flags else ""
            score = pgr(p.pgr, p.ci_low, p.ci_high, ci_digits=2 if pane else 3)
            return ("★ " if pane else "") + f"scored submission {p.submission_id}: PGR {score}{flags}", "eval"
        case EvalClusterChanged():
            return f"ray cluster {_flat(p.address, 60)}: {p.headline()}", "status"
        case CommandIssued():
            return f"issued {p.command} -> {_flat(p.target, 40)}", "command"
        case CommandApplied():
            refused = " (rejected)" if p.status == "rejected" else ""
            tone: Tone = "error" if refused else "command"
            if pane:
                target = f" {_flat(p.target, 40)}" if p.target != agent else ""
                return f"⚑ {p.command}{target}{refused}: {_flat(p.effect)}", tone
            return f"{p.command} -> {_flat(p.target, 40)}{refused}: {_flat(p.effect)}", tone
        case BudgetExceeded():
            dearest = f"; dearest: {_flat(p.dearest)}" if p.dearest else ""
            if pane:
                return f"! budget {p.limit} exceeded: {p.used:g} of {p.cap:g}{dearest}", "error"
            return f"{p.limit} budget spent (100%): {p.used:g} of {p.cap:g}{dearest}", "error"
        case BudgetWarned():
            share = f"at {p.fraction:.0%}: {p.used:g} of {p.cap:g}"
            share += f"; dearest: {_flat(p.dearest)}" if p.dearest else ""
            return (f"! budget {p.limit} {share}" if pane else f"{p.limit} budget {share}"), "error"
        case BudgetChanged():
            moved = f" ({'from' if p.delta > 0 else 'to'} {_flat(p.source, 40)})" if p.source else ""
            return ("$ " if pane else "") + f"budget {p.resource} {p.delta:+g}{moved}: now {p.budget:g}", "command"
        case MonitorDecided():
            if pane:
                return f"⚠ monitor {_flat(p.monitor, 60)} ({p.action}): {_part(p.reason)}", "error"
            if audience == "inbox":
                return f"{p.rule} -> {p.action}: {_part(p.reason)}", "error"
            return f"monitor {_flat(p.monitor, 60)} -> {p.action}: {_part(p.reason)}", "error"
        case ClaimChecked():
            return _claim(p, audience)
        case AgentBranched():
            said = f"branched from {_flat(p.parent, 40)} at step {p.step} (workspace of step {p.snapshot_step})"
            if audience != "inbox":
                said += f"; guidance: {_part(p.guidance)}"
            return ("⑂ " if pane else "") + said, "command"
        case ReviewVerdict():
            note = f": {_part(p.note)}" if p.note else ""
            said = f"submission #{p.submission_id} reviewed by {_flat(p.by, 40)}: {p.verdict}{note}"
            return ("⚖ " if pane else "") + said, "error" if p.verdict == "reject" else "command"
        case SupervisorAsked():
            if pane:
                return f"? asks the supervisor: {_part(p.question)}  [I inbox, a answer]", "approval"
            if audience == "inbox":
                return _part(p.question), "approval"
            return f"asks the supervisor ({_flat(p.call_id, 60)}): {_part(p.question)}", "approval"


def _claim(p: ClaimChecked, audience: Audience) -> tuple[str, Tone]:
    wrong = p.verdict == "contradicted"
    if audience == "pane":
        if wrong:
            return f"✗ post #{p.post_id}: {_flat(p.claim)} contradicted by its results", "error"
        return f"✓ post #{p.post_id}: {_flat(p.claim)} verified", "status"
    if audience == "inbox" and wrong:
        return (
            f"post #{p.post_id} says '{_flat(p.claim)}' ({p.metric} {p.value:g}), "
            "which matches no result the evaluator showed its author"
        ), "error"
    by = f" by submission #{p.submission_id}" if p.submission_id else ""
    return f"post #{p.post_id}: '{_flat(p.claim)}' {p.verdict}{by}", "error" if wrong else "status"


def pgr(value: float | None, low: float | None = None, high: float | None = None, *, ci_digits: int = 2) -> str:
    """PGR with its confidence interval (``0.412 [0.35, 0.47]``); ``n/a`` when the evaluator could not
    compute it. ``ci_digits``: the interval's decimals (a screen's column keeps two, a report three)."""
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.{ci_digits}f}, {high:.{ci_digits}f}]"


def tool_args(value: dict[str, Any]) -> str:
    """A tool call's input on one line: a shell command as itself, anything else as JSON."""
    text = str(value["command"]) if set(value) == {"command"} else json.dumps(value, ensure_ascii=False)
    return _part(text)


def _part(text: str) -> str:
    return one_line(text, PART)


def _flat(text: str, limit: int = 200) -> str:
    return one_line(text, limit)
