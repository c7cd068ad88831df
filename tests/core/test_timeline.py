"""The timeline's loader on a real store file written through ``RunStore``: each kind of mark in its agent's lane
at its event's time (run-wide ones in the run's lane), submissions with the PGR scored by the moment read,
nothing of the bulk (model text, tool calls, sandbox output, other statuses), a moment's timeline without what
came after it, and agent text on one line with its control characters spelled out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aar.events import (
    AgentStatusChanged,
    AgentStepCompleted,
    BudgetChanged,
    BudgetExceeded,
    BudgetWarned,
    CommandApplied,
    ErrorRaised,
    EvalScored,
    EventPayload,
    ForumPosted,
    ModelText,
    MonitorDecided,
    ReviewVerdict,
    SandboxExited,
    SandboxLifecycle,
    SandboxOutput,
    SubmissionCreated,
    SupervisorAsked,
    ToolCalled,
    ToolReturned,
)
from aar.store import RunStore
from aar.store.search_index import SearchHit
from aar.timeline import Mark, Timeline, hit_mark, load_timeline, step_at

T0 = 1767225600.0
"""2026-01-01 00:00:00 UTC: event ``n`` is pinned at ``T0 + 60 n`` (one a minute)."""
HOSTILE = "[bold red]not markup[/] \x1b[31mred?\x1b[0m \u202eevil\nsecond line"
BULK = {"model.text", "tool.call", "tool.result", "sandbox.output", "sandbox.exit", "agent.step"}


def at(event_id: int) -> float:
    return T0 + 60 * event_id


async def _seed(db: Path) -> dict[str, int]:
    """Two agents' hour: the bulk of a run, and one event of every kind a timeline shows; returns ids by name."""
    ids: dict[str, int] = {}
    async with await RunStore.open(db, create=True) as store:
        for name in ("agent-1", "agent-2"):
            await store.register_agent(name, backend="scripted", model="scripted")

        async def put(name: str, agent: str | None, payload: EventPayload) -> None:
            ids[name] = await store.append(agent, payload)

        await put("text", "agent-1", ModelText(step=1, text="thinking about it"))
        await put("call", "agent-1", ToolCalled(step=1, call_id="c1", tool="bash", input={"command": "ls"}))
        await put("out", "agent-1", SandboxOutput(call_id="c1", stream="stdout", text="x\n"))
        await put("exit", "agent-1", SandboxExited(call_id="c1", exit_code=0))
        await put("result", "agent-1", ToolReturned(step=1, call_id="c1", tool="bash", ok=True, output="x"))
        await put("thinking", "agent-1", AgentStatusChanged(status="thinking"))
        await put("step", "agent-1", AgentStepCompleted(step=2))
        method = await store.add_submission("agent-1", "method", {"source": "x"}, label="methods/[b]boot\x1b[2J.py")
        await put("method", "agent-1", SubmissionCreated(submission_id=method, submission_kind="method"))
        file = await store.add_submission("agent-2", "predictions", {"predictions": [1]}, label="p.json")
        await put(
            "file", "agent-2", SubmissionCreated(submission_id=file, submission_kind="predictions", flags=["probe"])
        )
        await put("post", "agent-1", ForumPosted(post_id=7, title=HOSTILE))
        await put("monitor", "agent-2", MonitorDecided(monitor="builtin", rule="r", action="flag", reason=HOSTILE))
        await put("broadcast", None, CommandApplied(command_id=1, command="redirect", target="*", effect="sent"))
        await put("pause", "agent-1", CommandApplied(command_id=2, command="pause", target="agent-1", effect="ok"))
        await put("paused", "agent-1", AgentStatusChanged(status="paused", detail="by the supervisor"))
        await put("error", "agent-1", ErrorRaised(message=HOSTILE, where="agent"))
        await put("started", "agent-2", SandboxLifecycle(action="started", backend="local"))
        await put("restart", "agent-2", SandboxLifecycle(action="restarted", backend="local"))
        await put("warned", "agent-2", BudgetWarned(limit="dollars", used=8, cap=10))
        await put("exceeded", "agent-2", BudgetExceeded(limit="dollars", used=10, cap=10))
        await put("changed", "agent-2", BudgetChanged(command_id=3, resource="dollars", delta=5, budget=15))
        await put("ask", "agent-1", SupervisorAsked(step=3, question="may I?"))
        for sid, agent, pgr, flags in ((method, "agent-1", 0.45, []), (file, "agent-2", 0.9, ["probe", "majority"])):
            job = await store.enqueue_job("score", {}, submission_id=sid, status="done")
            await store.add_result(
                job, submission_id=sid, split="feedback", pgr=pgr, ci_low=pgr, ci_high=pgr, metrics={}
            )
            scored = EvalScored(
                job_id=job, submission_id=sid, pgr=pgr, ci_low=pgr - 0.1, ci_high=pgr + 0.1, flags=flags
            )
            await put(f"scored-{agent}", agent, scored)
        transfer = EvalScored(job_id=99, submission_id=method, pgr=0.1, ci_low=0.0, ci_high=0.2)
        await put("transfer", None, transfer)  # a transfer target's score: the team's leaderboard never shows it
        await put("verdict", "agent-1", ReviewVerdict(submission_id=method, verdict="accept", note="", by="me"))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET ts = ? + 60 * id", (T0,))
    return ids


@pytest.fixture
async def seeded(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    db = tmp_path / "run.db"
    return db, await _seed(db)


def _lane(timeline: Timeline, agent: str | None) -> list[Mark]:
    index = timeline.lane_of(agent)
    assert index is not None, agent
    return list(timeline.lanes[index].marks)


async def test_every_kind_is_in_its_agents_lane_at_its_events_time(seeded: tuple[Path, dict[str, int]]) -> None:
    db, ids = seeded
    async with await RunStore.open(db) as store:
        timeline = await load_timeline(store)
    assert [lane.name for lane in timeline.lanes] == ["agent-1", "agent-2", "run"]
    assert (timeline.start, timeline.end) == (at(1), at(ids["verdict"]))
    one = [(m.event_id, m.kind, m.what) for m in _lane(timeline, "agent-1")]
    assert one == [
        (ids["method"], "submission", "method"),
        (ids["post"], "post", "post"),
        (ids["pause"], "control", "pause"),
        (ids["paused"], "control", "paused"),
        (ids["error"], "error", "error"),
        (ids["ask"], "control", "ask"),
        (ids["verdict"], "control", "verdict"),
    ]
    two = [(m.event_id, m.kind, m.what) for m in _lane(timeline, "agent-2")]
    assert two == [
        (ids["file"], "flag", "submission"),  # flagged at intake: a flag beside the submission
        (ids["file"], "submission", "predictions"),
        (ids["monitor"], "flag", "flag"),
        (ids["restart"], "error", "restarted"),
        (ids["warned"], "budget", "dollars"),
        (ids["exceeded"], "budget", "dollars"),
        (ids["changed"], "budget", "dollars"),
        (ids["scored-agent-2"], "flag", "submission"),  # the score earned one more flag
    ]
    assert [(m.event_id, m.kind, m.what) for m in _lane(timeline, None)] == [(ids["broadcast"], "control", "redirect")]
    for mark in timeline.marks():
        assert mark.ts == at(mark.event_id), mark
        assert mark.source not in BULK
    assert not {ids["thinking"], ids["started"], ids["transfer"]} & {m.event_id for m in timeline.marks()}


async def test_a_submission_has_its_pgr_kind_flags_and_what_to_open(seeded: tuple[Path, dict[str, int]]) -> None:
    db, _ = seeded
    async with await RunStore.open(db) as store:
        timeline = await load_timeline(store)
    [method] = [m for m in _lane(timeline, "agent-1") if m.kind == "submission"]
    [file] = [m for m in _lane(timeline, "agent-2") if m.kind == "submission"]
    assert (method.submission_kind, method.pgr, method.flags) == ("method", 0.45, ())  # not the transfer's 0.1
    assert (file.submission_kind, file.pgr, file.flags) == ("predictions", 0.9, ("majority", "probe"))
    assert method.label == "submission #1 method methods/[b]boot\\x1b[2J.py: PGR 0.450 [0.35, 0.55]"
    assert file.label.endswith("PGR 0.900 [0.80, 1.00] · flagged majority, probe")
    [post] = [m for m in _lane(timeline, "agent-1") if m.kind == "post"]
    assert post.post_id == 7
    [ask] = [m for m in _lane(timeline, "agent-1") if m.what == "ask"]
    assert ask.step == 3
    [verdict] = [m for m in _lane(timeline, "agent-1") if m.what == "verdict"]
    assert verdict.submission_id == method.submission_id


async def test_a_moment_shows_nothing_after_it_and_no_score_given_later(seeded: tuple[Path, dict[str, int]]) -> None:
    db, ids = seeded
    async with await RunStore.open(db) as store:
        timeline = await load_timeline(store, upto_id=ids["ask"])
    assert timeline.end == at(ids["ask"]) and timeline.upto_id == ids["ask"]
    assert max(m.event_id for m in timeline.marks()) == ids["ask"]
    [method] = [m for m in _lane(timeline, "agent-1") if m.kind == "submission"]
    assert method.pgr is None and method.label.endswith(": not scored yet")
    [file] = [m for m in _lane(timeline, "agent-2") if m.kind == "submission"]
    assert file.flags == ("probe",), "the flag its score earned came later"


async def test_agent_text_is_one_line_with_controls_spelled_out(seeded: tuple[Path, dict[str, int]]) -> None:
    db, _ = seeded
    async with await RunStore.open(db) as store:
        timeline = await load_timeline(store)
    hostile = [m for m in timeline.marks() if m.source in ("forum.post", "error", "monitor.decision")]
    assert len(hostile) == 3
    for mark in [*hostile, *timeline.marks()]:
        assert "\x1b" not in mark.label and "\n" not in mark.label and "\u202e" not in mark.label, mark.label
    for mark in hostile:
        assert "[bold red]not markup[/] \\x1b[31mred?\\x1b[0m \\u202eevil second line" in mark.label, mark.label


async def test_an_unreadable_event_is_skipped_alone(seeded: tuple[Path, dict[str, int]]) -> None:
    db, _ = seeded
    async with await RunStore.open(db) as store:
        store.emit_raw([("agent-1", "error", '{"kind": "error"}'), ("agent-1", "forum.post", "{not json")])
        await store.flush()
        before = len((await load_timeline(store, upto_id=1000)).marks())
        store.emit("agent-1", ErrorRaised(message="after them"))
        await store.flush()
        timeline = await load_timeline(store)
    assert len(timeline.marks()) == before + 1
    assert timeline.marks()[-1].label == "after them"


async def test_the_step_at_an_event_and_a_search_hit_as_a_mark(seeded: tuple[Path, dict[str, int]]) -> None:
    db, ids = seeded
    async with await RunStore.open(db) as store:
        assert await step_at(store, "agent-1", ids["error"]) == 2, "its last step event before the error"
        assert await step_at(store, "agent-1", ids["text"]) == 1
        assert await step_at(store, "agent-2", ids["restart"]) is None, "agent-2 took no step"
        timeline = await load_timeline(store)
    hit = SearchHit(agent="agent-2", kind="output", step=4, ref=12, ts=at(5), snippet="the [heldout]\x1b[2J file")
    mark = hit_mark(hit, 5)
    assert (mark.kind, mark.step, mark.event_id) == ("hit", 4, 5)
    assert mark.label == "search hit, output at step 4: the [heldout]\\x1b[2J file"
    placed = timeline.with_hit(mark)
    assert mark in _lane(placed, "agent-2") and mark not in _lane(timeline, "agent-2")
    supervisor = hit_mark(SearchHit("supervisor", "post", None, 3, at(2), "x"), 2)
    assert [lane.name for lane in timeline.with_hit(supervisor).lanes] == ["agent-1", "agent-2", "run", "supervisor"]


def _seen(timeline: Timeline) -> list[tuple[object, ...]]:
    return [(m.event_id, m.kind, m.what, m.agent, m.pgr, m.flags, m.label) for m in timeline.marks()]


async def test_a_timeline_read_on_from_an_earlier_one_equals_one_read_whole(
    seeded: tuple[Path, dict[str, int]],
) -> None:
    db, ids = seeded
    async with await RunStore.open(db) as store:
        earlier = await load_timeline(store, upto_id=ids["ask"])  # before either submission was scored
        assert await load_timeline(store, upto_id=ids["ask"], after=earlier) is earlier, "nothing new: itself"
        on = await load_timeline(store, after=earlier)
        assert _seen(on) == _seen(await load_timeline(store))
        [method] = [m for m in on.marks() if m.kind == "submission" and m.agent == "agent-1"]
        assert method.pgr == 0.45, "scored since the earlier read"
        store.emit("agent-2", ErrorRaised(message="later"))
        await store.flush()
        later = await load_timeline(store, after=on)
        assert _seen(later) == _seen(await load_timeline(store))
        assert later.marks()[-1].label == "later"
