"""``describe(event, audience)``: every event class gets one line for every audience (the TUI's panes, the
headless log, the inbox), agent text in it stays text (escaped, never markup), and the lines the surfaces
print are the ones they printed before."""

from __future__ import annotations

from typing import Any, cast, get_args, get_origin

import pytest

from aar.describe import Audience, Description, describe, pgr
from aar.events import (
    EVENT_CLASSES,
    ApprovalRequested,
    ClaimChecked,
    CommandApplied,
    DiskBack,
    DiskLow,
    EvalScored,
    EventPayload,
    Payload,
    ReviewVerdict,
    SandboxExited,
    SupervisorAsked,
    ToolCalled,
    Unreadable,
)
from aar.store import EventRow

AUDIENCES: tuple[Audience, ...] = get_args(Audience)
HOSTILE = "[bold]loud[/bold] \x1b[8mhidden\n[link=https://x]y[/link]"
"""Agent text with Rich markup, an escape that conceals what follows, and a line break."""


def sample(cls: type[Payload], text: str = "x") -> EventPayload:
    """An instance of ``cls`` with every required field filled (strings with ``text``)."""
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name == "kind" or not field.is_required():
            continue
        annotation = field.annotation
        options = get_args(annotation) or (annotation,)
        if get_origin(annotation) is dict:
            values[name] = {"command": text}
        elif get_origin(annotation) is list:
            values[name] = [text]
        elif str in options:
            values[name] = text
        elif bool in options:
            values[name] = True
        elif int in options:
            values[name] = 3
        elif float in options:
            values[name] = 0.5
        else:  # a Literal: its first value
            values[name] = get_args(annotation)[0]
    return cast("EventPayload", cls(**values))  # cls is one of EVENT_CLASSES, the union's members


def row(payload: EventPayload | Unreadable, agent: str | None = "agent-1", event_id: int = 12) -> EventRow:
    return EventRow(id=event_id, ts=0.0, agent=agent, kind=payload.kind, payload=payload)


EVERY_EVENT = [*(sample(c) for c in EVENT_CLASSES), Unreadable(kind="agent.dream", reason="unknown kind")]


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("payload", EVERY_EVENT, ids=lambda p: p.kind)
def test_every_event_class_has_one_line_for_every_audience(
    payload: EventPayload | Unreadable, audience: Audience
) -> None:
    for event in (row(payload), row(payload, agent=None), payload):
        line = describe(event, audience)
        assert isinstance(line, Description) and line.text.strip() and str(line) == line.text
        assert "\n" not in line.text and "\r" not in line.text, line.text


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_agent_text_is_escaped_and_never_markup(cls: type[Payload], audience: Audience) -> None:
    line = describe(row(sample(cls, HOSTILE)), audience).text
    assert "\x1b" not in line and "\n" not in line, line
    if "loud" in line:  # the event shows its text here: literally, brackets and all, its escape spelled out
        assert "[bold]loud[/bold] \\x1b[8mhidden" in line, line


def test_the_lines_each_surface_printed_before() -> None:
    ask = row(SupervisorAsked(step=1, question="May I use the GPU?", call_id="q1"))
    assert describe(ask, "inbox").text == "May I use the GPU?"
    assert describe(ask, "log").text == "asks the supervisor (q1): May I use the GPU?"
    assert describe(ask, "pane").text == "? asks the supervisor: May I use the GPU?  [I inbox, a answer]"
    approval = row(ApprovalRequested(call_id="c1", tool="bash", input={"command": "rm -rf task"}))
    assert describe(approval, "pane").text == "? approve bash rm -rf task  [a approve / d deny]"
    assert describe(approval, "inbox").text == "wants to run bash rm -rf task"
    call = row(ToolCalled(step=1, call_id="c", tool="edit", input={"path": "a.py", "text": "é"}))
    assert describe(call, "pane").text == '→ edit {"path": "a.py", "text": "é"}'
    scored = EvalScored(job_id=3, submission_id=1, pgr=0.41, ci_low=0.36, ci_high=0.46, flags=["probe"])
    assert describe(row(scored), "pane") == Description(
        "★ scored submission 1: PGR 0.410 [0.36, 0.46] flags probe", "eval"
    )
    assert describe(row(scored), "log").text == "scored submission 1: PGR 0.410 [0.360, 0.460] flags probe"
    assert describe(row(scored), "inbox").text == "submission #1 scored with flags: probe"
    claim = ClaimChecked(post_id=7, metric="pgr", value=0.9, claim="PGR 0.9", verdict="contradicted")
    assert describe(row(claim), "log").text == "post #7: 'PGR 0.9' contradicted"
    assert describe(row(claim), "pane").tone == "error"
    assert describe(row(SandboxExited(call_id="c9", exit_code=137, oom_killed=True)), "inbox").text == (
        "sandbox command c9 was OOM-killed"
    )


def test_a_command_names_its_target_only_where_the_line_is_not_the_targets_own() -> None:
    applied = CommandApplied(command_id=1, command="pause", target="agent-4", effect="pauses after the step")
    assert describe(row(applied, agent="agent-4"), "pane").text == "⚑ pause: pauses after the step"
    assert describe(row(applied, agent=None), "pane").text == "⚑ pause agent-4: pauses after the step"
    rejected = applied.model_copy(update={"status": "rejected", "effect": "agent-4 has already ended"})
    assert describe(row(rejected, agent="agent-4"), "pane") == Description(
        "⚑ pause (rejected): agent-4 has already ended", "error"
    )


def test_an_unreadable_event_says_which_and_why() -> None:
    bad = Unreadable(kind="agent.ask", reason="question: Field required")
    assert describe(row(bad, event_id=5), "pane").text == "event 5 (agent.ask) unreadable: question: Field required"
    assert describe(row(bad), "log").text == "unreadable, skipped: question: Field required"


def test_pgr_with_and_without_its_interval() -> None:
    assert pgr(None) == "n/a" and pgr(0.41) == "0.410" and pgr(0.41, 0.355, 0.46) == "0.410 [0.35, 0.46]"
    assert pgr(0.41, 0.355, 0.46, ci_digits=3) == "0.410 [0.355, 0.460]"


def test_a_full_disk_says_how_much_space_the_team_waits_for() -> None:
    low = DiskLow(path="/runs/r1", free_mb=3.2, reserve_mb=200, need_mb=296.8, cause="under the 200 MB reserve")
    assert describe(low, "inbox").text == (
        "disk full: 3 MB free on /runs/r1 (under the 200 MB reserve); the team is paused until 297 MB more are free"
    )
    assert describe(DiskBack(path="/runs/r1", free_mb=900, paused_s=61.4), "log").text == (
        "disk space is back: 900 MB free after 61s; the team goes on"
    )


def test_a_verdict_says_whose_submission_and_why_in_every_audience() -> None:
    verdict = row(ReviewVerdict(submission_id=7, verdict="reject", note="overfits", by="alice", post_id=3), "agent-2")
    assert describe(verdict, "pane") == Description("⚖ submission #7 reviewed by alice: reject: overfits", "error")
    assert describe(verdict, "log").text == "submission #7 reviewed by alice: reject: overfits"
    assert describe(verdict, "inbox").text == "submission #7 reviewed by alice: reject: overfits"
    accepted = ReviewVerdict(submission_id=7, verdict="accept", note="", by="supervisor")
    assert describe(accepted, "log") == Description("submission #7 reviewed by supervisor: accept", "command")


@pytest.mark.parametrize("audience", AUDIENCES)
def test_a_verdicts_note_and_author_stay_text(audience: Audience) -> None:
    hostile = ReviewVerdict(
        submission_id=7, verdict="needs-work", note=f"\u202e{HOSTILE}", by="eve\x1b]52;c;x\x07", post_id=1
    )
    line = describe(row(hostile), audience).text
    assert "\x1b" not in line and "\u202e" not in line and "\n" not in line, line
    assert "\\u202e[bold]loud[/bold] \\x1b[8mhidden" in line and "eve\\x1b]52;c;x\\x07" in line, line
