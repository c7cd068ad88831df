"""The progress series (``aar.progress``) against a real store with known times and costs
(``tests.support.progress``): every point is an evaluator result on the home task, the best is the running
maximum of the verified methods that count, agent-hours and dollars at each point are the ones worked out by
hand, a restart's downtime is no agent's time, and a ledger kept between reads reads only new spend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aar.effort import SpendLedger
from aar.events import AgentStatusChanged, AgentStepCompleted, EventPayload, RunLog, RunStateChanged
from aar.progress import (
    NOT_COUNTED,
    Progress,
    ProgressPoint,
    Series,
    load_progress,
    nice_ticks,
    pgr_range,
    supervisor_references,
)
from aar.store import TRANSFER_SPLIT, RunStore
from tests.support.progress import EXPECTED, T0, TEAM_END, progress_run

H = 3600.0


async def test_every_point_is_a_result_row_and_the_best_is_the_running_max_of_counted_verified_methods(
    tmp_path: Path,
) -> None:
    paths = await progress_run(tmp_path / "run")
    async with await RunStore.open(paths.db) as store:
        progress = await load_progress(store, supervisor=[0.23])
        rows = [r for r in await store.results() if r.submission_id is not None and r.split != "final"]
        subs = {s.id: s for s in await store.submissions()}
        verdicts = await store.verdicts()
    assert all(r.split != TRANSFER_SPLIT for r in rows) and len(rows) == len(EXPECTED) == len(progress.points)
    for point, row in zip(progress.points, rows, strict=True):
        sub = subs[point.submission_id]
        assert (point.result_id, point.submission_id, point.split, point.ts) == (
            row.id,
            row.submission_id,
            row.split,
            row.ts,
        )
        assert (point.pgr, point.ci_low, point.ci_high) == (row.pgr, row.ci_low, row.ci_high)
        assert (point.agent, point.kind, point.label) == (sub.agent, sub.kind, sub.label)
        assert point.verified == (sub.kind == "method" and row.split == "seeds")
    assert [p.counted for p in progress.points] == [e.counted for e in EXPECTED]
    why = {p.label: p.why_not for p in progress.points if p.why_not}
    assert why == {"probe.py": "flagged probe", "d.py": "rejected by the supervisor"}
    accepted = [
        p for p in progress.points if p.submission_id in verdicts and verdicts[p.submission_id].verdict == "accept"
    ]
    assert [(p.flags, p.counted) for p in accepted] == [(["review"], True)], "flagged review, accepted: it counts"

    running: list[float] = []
    for p in progress.points:
        if p.verified and p.counted and p.pgr is not None and (not running or p.pgr > running[-1]):
            running.append(p.pgr)
    team = [s.pgr for s in progress.team.steps]
    assert team == running == [0.25, 0.40, 0.55] and team == sorted(set(team)), "strictly rising"
    assert progress.team.best_pgr == 0.55 and progress.team.steps[-1].submission_id == progress.points[-1].submission_id
    mine = {s.name: [step.pgr for step in s.steps] for s in progress.agents}
    assert mine == {"agent-1": [0.25, 0.35, 0.55], "agent-2": [0.40]}, "each agent's own running max"
    refs = [(r.label, r.pgr, r.source) for r in progress.references]
    assert refs == [("weak", 0.0, "weak"), ("vanilla", 0.2, "evaluator"), ("reference", 0.23, "supervisor")]
    assert set(progress.not_counted_flags) == NOT_COUNTED and "unisolated" not in NOT_COUNTED


async def test_agent_hours_and_dollars_at_each_point_are_the_ones_worked_out_by_hand(tmp_path: Path) -> None:
    """agent-2's verdict events come 20 minutes after its last step: its hours end at its last step."""
    paths = await progress_run(tmp_path / "run")
    async with await RunStore.open(paths.db) as store:
        progress = await load_progress(store)
    for point, e in zip(progress.points, EXPECTED, strict=True):
        assert (point.label, point.agent, point.kind, point.pgr) == (e.label, e.agent, e.kind, e.pgr)
        got = (point.team_hours, point.team_usd, point.agent_hours, point.agent_usd)
        assert got == pytest.approx((e.team_hours, e.team_usd, e.agent_hours, e.agent_usd)), e.label
    assert (progress.team.hours, progress.team.usd) == pytest.approx(TEAM_END)
    ends = {s.name: (s.hours, s.usd) for s in progress.agents}
    assert ends == {"agent-1": pytest.approx((2.0, 3.5)), "agent-2": pytest.approx((1.0, 4.0))}
    steps = [x for s in progress.team.steps for x in (s.hours, s.usd)]
    assert steps == pytest.approx([50 / 60, 1.0, 1.5, 7.0, 100 / 60 + 1.0, 7.5])
    assert progress.start_ts == T0 and progress.end_ts == T0 + 2 * H


@pytest.mark.parametrize("stopped", [True, False], ids=["stopped", "daemon-died"])
async def test_the_time_a_run_was_down_between_two_daemons_is_no_agents_time(tmp_path: Path, stopped: bool) -> None:
    """Up 1 h, down 2 h (stopped, or its daemon killed: no final state), up again for 30 min: 1.5 agent-hours."""
    db = tmp_path / "run.db"
    times: dict[int, float] = {}
    async with await RunStore.open(db, create=True) as store:
        await store.register_agent("agent-1", backend="scripted", model="scripted")
        plan: list[tuple[float, str | None, EventPayload]] = [
            (T0, None, RunStateChanged(state="starting")),
            (T0, "agent-1", AgentStatusChanged(status="thinking")),
            (T0 + H, "agent-1", AgentStepCompleted(step=1, cost_usd=1.0)),
            *([(T0 + H, None, RunStateChanged(state="stopped"))] if stopped else []),
            (T0 + 3 * H, None, RunLog(level="warning", message="previous daemon died; resuming")),
            (T0 + 3 * H, None, RunStateChanged(state="starting", reason="resume")),
            (T0 + 3.5 * H, "agent-1", AgentStepCompleted(step=2, cost_usd=2.0)),
        ]
        for at, agent, payload in plan:
            times[await store.append(agent, payload)] = at
    with sqlite3.connect(db) as conn:
        conn.executemany("UPDATE events SET ts = ? WHERE id = ?", [(t, i) for i, t in times.items()])
        conn.execute("UPDATE agents SET started_ts = ?", (T0,))
    async with await RunStore.open(db) as store:
        progress = await load_progress(store)
    assert (progress.team.hours, progress.team.usd) == pytest.approx((1.5, 3.0))


async def test_a_ledger_kept_between_reads_reads_only_the_new_spend(tmp_path: Path) -> None:
    paths = await progress_run(tmp_path / "run")
    ledger = SpendLedger()
    async with await RunStore.open(paths.db) as store:
        await load_progress(store, ledger=ledger)
        seen, read = ledger.last_id, len(ledger.times)
        store.emit("agent-2", AgentStepCompleted(step=3, cost_usd=0.25))
        await store.flush()
        again = await load_progress(store, ledger=ledger)
        fresh = await load_progress(store)
    assert ledger.last_id > seen and len(ledger.times) == read + 1
    assert again.team.usd == pytest.approx(7.75) == fresh.team.usd
    assert again.model_dump() == fresh.model_dump()


async def test_a_run_with_no_result_yet_has_its_hours_and_spend_and_no_point(tmp_path: Path) -> None:
    paths = await progress_run(tmp_path / "run", scored=False)
    async with await RunStore.open(paths.db) as store:
        progress = await load_progress(store)
    assert progress.empty and progress.points == [] and progress.team.steps == [] and progress.team.best_pgr is None
    assert (progress.team.hours, progress.team.usd) == pytest.approx(TEAM_END)
    assert [r.label for r in progress.references] == ["weak"]


async def test_an_empty_store_is_an_empty_chart(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "run.db", create=True) as store:
        progress = await load_progress(store)
    assert progress.empty and progress.agents == [] and progress.start_ts is None and progress.end_ts is None
    assert (progress.team.hours, progress.team.usd) == (0.0, 0.0)


async def test_the_reference_lines_come_from_the_config_and_none_from_a_config_that_does_not_read(
    tmp_path: Path,
) -> None:
    paths = await progress_run(tmp_path / "run")
    assert supervisor_references(paths.config) == [0.23]
    paths.config.write_text("[report]\nreference_pgr = ['high']\n")
    assert supervisor_references(paths.config) == []
    assert supervisor_references(tmp_path / "missing.toml") == []


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.0, 1.0, 6) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0, 3.0, 4) == [0.0, 1.0, 2.0, 3.0]
    assert nice_ticks(-0.35, 1.0, 5) == [0.0, 0.5, 1.0]
    assert nice_ticks(-0.6, 1.0, 5) == [-0.5, 0.0, 0.5, 1.0]
    assert nice_ticks(0.0, 7.5, 7) == [0.0, 2.0, 4.0, 6.0]
    assert nice_ticks(1.0, 1.0, 5) == [1.0]


def test_the_pgr_axis_spans_zero_to_one_and_a_wild_score_does_not_flatten_the_rest() -> None:
    def point(pgr: float) -> ProgressPoint:
        return ProgressPoint(
            result_id=1, submission_id=1, agent="a", kind="method", label="m.py", split="seeds", pgr=pgr,
            ci_low=None, ci_high=None, flags=[], verified=True, counted=True, ts=0.0,
            team_hours=0.0, team_usd=0.0, agent_hours=0.0, agent_usd=0.0,
        )  # fmt: skip

    team = Series(name="team", steps=[], hours=0.0, usd=0.0, best_pgr=None)

    def axis(*pgrs: float) -> tuple[float, float]:
        progress = Progress(
            start_ts=None, end_ts=None, team=team, agents=[], points=[point(p) for p in pgrs], references=[]
        )
        return pgr_range(progress)

    assert axis() == (0.0, 1.0) and axis(0.4, 0.6) == (0.0, 1.0)
    assert axis(-0.3, 1.2) == (-0.3, 1.2)
    assert axis(-40.0, 0.5, 9.0) == (-1.0, 2.0)
