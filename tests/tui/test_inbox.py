"""The inbox in the real app through Pilot, against a real team in the same run store: an agent asks, the
badge counts it, ``I`` opens the inbox, ``a`` answers, the agent reads the answer and goes on; ``x``
acknowledges (who and when are recorded); Enter jumps to the agent; ``$`` changes a budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aar import inbox
from aar.budget_text import BadBudgetEntry, parse_budget
from aar.commands import Budget
from aar.events import MonitorDecided, SupervisorAsked
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from agents.backend import ModelRequest
from agents.team import run_team
from tests.agents.helpers import Playbook, config, factory, run_context, text, tool, turns_of
from tests.tui.helpers import pending, screen_text, wait_for, wait_screen
from tests.tui.synthetic import build_run
from tui.app import AarApp
from tui.screens.inbox import InboxScreen
from tui.screens.main import MainScreen
from tui.widgets.inbox_list import InboxList

QUESTION = "May I read the feedback split?"


def asker(request: ModelRequest) -> list[dict[str, Any]]:
    n = turns_of(request)
    if request.agent == "agent-2" and n == 1:
        return [text("Asking first."), tool("ask_supervisor", "ask-7", question=QUESTION)]
    return [tool("forum_read", f"{request.agent}-r{n}", limit=1)]


@contextlib.asynccontextmanager
async def live_team(tmp_path: Path, hold: Callable[[RunPaths], RunPaths]) -> AsyncIterator[tuple[RunContext, Playbook]]:
    """A real team (loop, tools, command poller) and the daemon's inbox builder, on a run the TUI attaches to."""
    backend = Playbook(asker, delay_s=0.05)
    async with run_context(tmp_path, config(team={"count": 2})) as ctx:
        hold(ctx.paths)
        await ctx.store.set_meta("state", "running")
        done = asyncio.Event()
        tasks = [
            asyncio.create_task(run_team(ctx, backend_factory=factory(backend))),
            asyncio.create_task(inbox.follow(ctx.store, done, interval=0.05)),
        ]
        try:
            yield ctx, backend
        finally:
            ctx.stop.set()
            done.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)


@pytest.mark.slow
async def test_an_ask_round_trips_through_the_inbox(tmp_path: Path, daemon_locks: Any) -> None:
    async with live_team(tmp_path, daemon_locks) as (ctx, backend):
        app = AarApp(ctx.paths.root, poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "inbox 1", timeout=10)
            await pilot.press("I")
            await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and bool(app.screen.items))
            shown = await wait_screen(pilot, QUESTION)
            assert "inbox · 1 open · 1 blocking an agent" in shown and "agent-2" in shown
            await pilot.press("a")
            await pilot.pause(0.2)
            await pilot.press(*"Yes", "space", *"feedback", "space", *"only", "enter")
            answer = "Answer to your question (ask-7): Yes feedback only"

            def answered() -> bool:
                return any(answer in str(r.messages[-1]["content"]) for r in backend.of("agent-2"))

            await wait_for(pilot, answered, timeout=5)
            request = next(r for r in backend.of("agent-2") if answer in str(r.messages[-1]["content"]))
            assert request.messages[-1]["content"][-1]["text"].endswith(answer)
            await wait_screen(pilot, "nothing needs you right now", timeout=5)
            assert "inbox 1" not in screen_text(app)


async def test_acknowledge_records_who_and_when_and_enter_focuses_the_agent(tmp_path: Path, daemon_locks: Any) -> None:
    run = daemon_locks(await build_run(tmp_path / "run"))
    async with await RunStore.open(run.db) as store:
        store.emit(
            "agent-3", MonitorDecided(monitor="builtin", rule="label_hunting", action="flag", reason="grep -r labels")
        )
        store.emit("agent-2", SupervisorAsked(step=4, question="Which seed?", call_id="q-1"))
        await store.flush()
        await inbox.catch_up(store)
        items = await store.inbox()
    assert items[0].kind == "ask", "what blocks an agent comes first, newest first"
    monitor = next(i for i, item in enumerate(items) if item.kind == "monitor")
    app = AarApp(run.root, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, f"inbox {len(items)}")
        await pilot.press("I")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(app.screen.items) == len(items))
        screen = app.screen
        assert isinstance(screen, InboxScreen)
        assert [i.id for i in screen.items] == [i.id for i in items]
        await pilot.press(*["down"] * monitor, "x")
        await wait_for(pilot, lambda: len(screen.items) == len(items) - 1)
        async with await RunStore.open(run.db) as store:
            (acked,) = [i for i in await store.inbox(open_only=False) if i.ack_ts is not None]
        assert acked.kind == "monitor" and acked.ack_by and acked.ack_by.endswith("(tui)")
        await wait_for(pilot, lambda: app.model.inbox_open == len(items) - 1)
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.main.focused_name == "agent-2"


def test_budget_entries() -> None:
    assert parse_budget("+2") == Budget(resource="dollars", amount=2.0, source="")
    assert parse_budget("-$0.5") == Budget(resource="dollars", amount=-0.5, source="")
    assert parse_budget("-5000 tokens") == Budget(resource="tokens", amount=-5000.0, source="")
    assert parse_budget("+50k") == Budget(resource="tokens", amount=50000.0, source="")
    assert parse_budget("+10m from bob") == Budget(resource="wall_clock_s", amount=600.0, source="bob")
    assert parse_budget("3 from pool") == Budget(resource="dollars", amount=3.0, source="pool")
    for bad in ("", "lots", "+0", "+2 to bob"):
        try:
            parse_budget(bad)
        except BadBudgetEntry as exc:
            assert "e.g. +2" in str(exc)
        else:
            raise AssertionError(f"{bad!r} should not parse")


async def test_inbox_table_columns_fit_80_columns(tmp_path: Path, daemon_locks: Any) -> None:
    run = daemon_locks(await build_run(tmp_path / "run"))
    async with await RunStore.open(run.db) as store:
        store.emit("agent-1", SupervisorAsked(step=1, question="x" * 400, call_id="q"))
        await store.flush()
        await inbox.catch_up(store)
        count = await store.inbox_open_count()
    app = AarApp(run.root, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, f"inbox {count}")
        await pilot.press("I")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and bool(app.screen.items))
        assert app.screen.query_one(InboxList).size.width <= 80
        text = await wait_screen(pilot, "ask: xxx")
        assert "agent-1" in text and "Acknowledge" in text


@pytest.mark.slow
async def test_enter_opens_the_post_the_submission_or_the_job(tmp_path: Path, daemon_locks: Any) -> None:
    from textual.widgets import DataTable, OptionList

    from aar.events import ClaimChecked, EvalJobChanged, SubmissionCreated
    from tui.screens.forum import ForumScreen
    from tui.screens.jobs import JobsScreen
    from tui.screens.leaderboard import LeaderboardScreen
    from tui.widgets.leaderboard_table import LeaderboardTable

    run = daemon_locks(await build_run(tmp_path / "run"))
    async with await RunStore.open(run.db) as store:
        (baseline,) = await store.jobs(status="queued")
        store.emit(None, EvalJobChanged(job_id=baseline.id, job_kind="baseline", status="failed", detail="oom"))
        store.emit("agent-3", SubmissionCreated(submission_id=2, submission_kind="predictions", flags=["majority"]))
        store.emit("agent-1", ClaimChecked(post_id=3, metric="pgr", value=0.9, claim="PGR 0.9", verdict="contradicted"))
        await store.flush()
        await inbox.catch_up(store)
        items = await store.inbox()
    app = AarApp(run.root, poll_interval=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, f"inbox {len(items)}")

        async def go(kind: str, screen: type) -> Any:
            await pilot.press("I")
            await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and bool(app.screen.items))
            index = next(i for i, item in enumerate(items) if item.kind == kind)
            await pilot.press("home", *["down"] * index, "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, screen))
            await pilot.pause(0.3)
            return app.screen

        forum = await go("claim", ForumScreen)
        assert forum.selected == 3 and forum.query_one("#post-list", OptionList).highlighted_option.id == "3"
        await pilot.press("escape")
        board = await go("flagged", LeaderboardScreen)
        table = board.query_one(LeaderboardTable)
        assert table.rows_shown[table.cursor_row].submission_id == 2
        await pilot.press("escape")
        jobs = await go("eval_failed", JobsScreen)
        rows = jobs.query_one(DataTable)
        assert str(rows.get_row_at(rows.cursor_row)[0]) == str(baseline.id)
