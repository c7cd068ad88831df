"""The review desk through Pilot on the real app and a real run store: opened from the agents and the
leaderboard, candidates chosen, the diff against the method before, a verdict written as ``aar review``
writes it (an event and a supervisor post), Escape writing nothing, the lineage opening the transcript at
its step, and agent text shown as it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import Input, OptionList, RichLog

from aar.reference_methods import closest_reference
from aar.runtime import RunPaths
from aar.store import LeaderboardRow, RunStore
from tests.tui.helpers import screen_text, wait_for, wait_screen
from tests.tui.review_seed import LABEL, review_desk_run
from tests.tui.test_keys import NARROW, WIDE, _open, _ready
from tui.app import AarApp
from tui.commands import NOUNS, palette_title
from tui.keymap import binding_ids
from tui.screens.inspect_step import InspectAtStep
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.review import ReviewScreen
from tui.widgets.code_view import CodeView
from tui.widgets.leaderboard_table import LeaderboardTable

NOTE = "[bold]copies #4[/] \x1b[8mhidden\u202e"


@pytest.fixture
async def desk_run(tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]) -> RunPaths:
    return daemon_locks(await review_desk_run(tmp_path / "run"))


async def _desk(pilot: Any) -> ReviewScreen:
    await _ready(pilot)
    await _open(pilot, "R", ReviewScreen)
    screen = pilot.app.screen
    assert isinstance(screen, ReviewScreen)
    await wait_for(pilot, lambda: screen.detail is not None and screen.query_one(CodeView).lines != [])
    return screen


async def test_the_desk_lists_the_best_methods_and_shows_the_chosen_one(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _desk(pilot)
        assert [c.submission_id for c in screen.candidates] == [5, 4], "best feedback PGR first; no prediction file"
        text = " ".join((await wait_screen(pilot, "vs vanilla +0.050 [+0.010, +0.090]")).split())
        for shown in (
            "#5 agent-1 · methods/[bold]boot.py · method, scored",
            "seeds 0.450 [0.400, 0.500] seed acc 0.812 0.809",
            "→ tilted 0.300 [0.200, 0.400] vs vanilla +0.050 [+0.010, +0.090]",
            "final not run",
            "flags review",
            "canary canary_agreement 0.93 · seed_moved 0.031",
            "monitor builtin -> flag: [b]odd[/b]",
            "✓ post #5 by agent-1 ([red]Result[/]: #5): PGR 0.45",
            "✗ post #5 by agent-1 ([red]Result[/]: #5): 0.9",
            "device 900.0 s · 812 ex/s · 41.2k tok/s",
            "verdict none yet",
            "10 write write_file methods/[bold]boot.py",
            "11 result submit_method → submission #4",
            "11 read forum_read thread #1",
            "12 write edit_file methods/[bold]boot.py",
        ):
            assert shown in text, shown
        assert screen.detail is not None
        assert [(s.step, s.what, s.text) for s in screen.detail.lineage] == [
            (10, "write", f"write_file {LABEL} (4 lines)"),
            (11, "result", "submit_method → submission #4 scored: PGR 0.30 [0.22, 0.38]"),
            (11, "read", "forum_read thread #1"),
            (12, "write", f"edit_file {LABEL} (-1 +1 lines)"),
        ], "the bash call is not part of it, nor anything after the submission"
        source = screen.query_one(CodeView)
        assert source.lines[0] == "# [bold red]not markup[/] \\x1b[31mred?\\x1b[0m \\u202eevil", (
            "hostile source, literal"
        )
        assert "\\x1b[31mred?" in text and "[bold red]not markup[/]" in text
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.chosen is not None and screen.chosen.submission_id == 4)
        await wait_for(pilot, lambda: screen.detail is not None and screen.detail.submission.id == 4)
        assert screen.detail is not None and screen.detail.previous is None
        await wait_screen(pilot, f"#4 agent-1 · {LABEL} · method, scored")


async def test_d_shows_the_diff_against_the_agents_method_before(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _desk(pilot)
        await pilot.press("d")
        view = screen.query_one(CodeView)
        await wait_for(pilot, lambda: view.kind == "diff")
        assert f"--- #4 {LABEL}" in view.lines and f"+++ #5 {LABEL}" in view.lines
        assert "-    return ctx.train(labels, epochs=2)" in view.lines
        assert "+    return ctx.train(labels, epochs=3, bootstrap=True)" in view.lines
        text = await wait_screen(pilot, "+    return ctx.train(labels, epochs=3, bootstrap=True)")
        assert "diff · #4 → #5" in text
        await pilot.press("down")  # #4 has no method before it
        await wait_screen(pilot, "agent-1 submitted no method before #4")
        await pilot.press("d")
        await wait_for(pilot, lambda: view.kind == "source" and view.lines[1] == "def run(ctx):")


async def test_f_shows_the_diff_from_the_closest_reference_method(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _desk(pilot)
        assert screen.detail is not None
        closest = closest_reference(screen.detail.source)
        assert closest is not None and screen.detail.reference == closest
        await pilot.press("f")
        view = screen.query_one(CodeView)
        await wait_for(pilot, lambda: view.kind == "diff")
        assert f"--- reference {closest.name}" in view.lines and f"+++ #5 {LABEL}" in view.lines
        assert "+    return ctx.train(labels, epochs=3, bootstrap=True)" in view.lines
        await wait_screen(pilot, f"from reference · {closest.name} → #5 · {closest.similarity:.0%} alike")
        await pilot.press("d")  # from the reference's diff straight to the previous method's
        await wait_for(pilot, lambda: f"--- #4 {LABEL}" in view.lines)
        await pilot.press("f", "f")
        await wait_for(pilot, lambda: view.kind == "source" and view.lines[1] == "def run(ctx):")


async def test_a_verdict_asks_for_a_note_and_is_recorded_with_its_post(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _desk(pilot)
        await pilot.press("x")
        await wait_screen(pilot, "reject #5 (methods/[bold]boot.py by agent-1): a note for the team")
        await pilot.press(*"overfits")
        app.screen.query_one(Input).value = NOTE  # what a paste would put there
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.chosen is not None and screen.chosen.verdict is not None)
        text = await wait_screen(pilot, "✗ reject by")
        assert "[bold]copies #4[/] \\x1b[8mhidden\\u202e" in text, "the note is shown literally"
        assert "✗  1 #5" in text, "the list marks it"
    async with await RunStore.open(desk_run.db) as store:
        verdicts = await store.verdicts()
        assert list(verdicts) == [5]
        assert (verdicts[5].verdict, verdicts[5].note) == ("reject", NOTE)
        post_id = verdicts[5].post_id
        assert post_id is not None
        post = await store.post(post_id)
        assert post is not None and post.author == "supervisor"
        assert post.title == "Review of submission #5: reject" and NOTE in post.body


async def test_the_desk_opened_again_is_the_same_desk_on_the_store_s_latest(desk_run: RunPaths) -> None:
    """Built once: opened again it shows what the store holds now (a verdict written meanwhile by ``aar
    review``), the best candidate chosen again and its source, not the diff it was left on."""
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _desk(pilot)
        await pilot.press("down", "d")
        await wait_for(pilot, lambda: screen.query_one(CodeView).kind == "diff")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReviewScreen))
        async with await RunStore.open(desk_run.db) as store:
            await store.record_verdict(5, "accept", "holds up", by="aar review")
        await _open(pilot, "R", ReviewScreen)
        assert app.screen is screen, "the desk was not built again"
        await wait_for(pilot, lambda: screen.chosen is not None and screen.chosen.submission_id == 5)
        assert screen.query_one(CodeView).kind == "source"
        await wait_screen(pilot, "✓ accept by")


async def test_escape_in_the_verdict_dialog_writes_nothing(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with await RunStore.open(desk_run.db) as store:
        posts = await store.post_count()
    async with app.run_test(size=NARROW) as pilot:
        screen = await _desk(pilot)
        for key, word in (("a", "accept"), ("w", "needs-work")):
            await pilot.press(key)
            await wait_screen(pilot, f"{word} #5 (methods/[bold]boot.py by agent-1)")
            await pilot.press(*"maybe", "escape")
            await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReviewScreen))
    async with await RunStore.open(desk_run.db) as store:
        assert await store.verdicts() == {} and await store.post_count() == posts


async def test_enter_on_a_lineage_step_opens_the_transcript_there(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        screen = await _desk(pilot)
        lineage = screen.query_one("#review-lineage", OptionList)
        lineage.focus()
        await wait_for(pilot, lambda: lineage.option_count == 4)
        lineage.highlighted = 3  # edit_file at step 12
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectAtStep))
        inspect = app.screen
        assert isinstance(inspect, InspectAtStep) and (inspect.view.name, inspect.step) == ("agent-1", 12)
        await wait_for(pilot, lambda: inspect.scrolled_to is not None)
        log = inspect.query_one("#transcript", RichLog)
        assert log.lines[inspect.scrolled_to or 0].text.startswith("── step 12 · assistant")
        top = log.scroll_offset.y
        assert top <= (inspect.scrolled_to or 0) < top + log.scrollable_content_region.height, "the step is in view"
        await wait_screen(pilot, "transcript · at step 12")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


def _submissions(table: LeaderboardTable) -> list[int]:
    return [r.submission_id for r in table.rows_shown if isinstance(r, LeaderboardRow)]


async def test_the_leaderboard_opens_the_desk_at_its_row_and_shows_only_what_was_accepted(desk_run: RunPaths) -> None:
    app = AarApp(desk_run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await _open(pilot, "l", LeaderboardScreen)
        board = app.screen
        assert isinstance(board, LeaderboardScreen)
        table = board.query_one(LeaderboardTable)
        await wait_for(pilot, lambda: 4 in _submissions(table) and 5 in _submissions(table))
        assert "R Review" in screen_text(app), "the board's key bar lists it"
        await pilot.press("a")
        await wait_screen(pilot, "accepted only (a: every score)")
        assert _submissions(table) == [], "nothing accepted yet"
        await pilot.press("a")
        await wait_for(pilot, lambda: 4 in _submissions(table))
        table.move_cursor(row=next(i for i, r in enumerate(table.rows_shown) if getattr(r, "submission_id", 0) == 4))
        await _open(pilot, "R", ReviewScreen)
        desk = app.screen
        assert isinstance(desk, ReviewScreen)
        await wait_for(pilot, lambda: desk.chosen is not None and desk.chosen.submission_id == 4)
        await pilot.press("a")
        await wait_screen(pilot, "accept #4")
        await pilot.press(*"clean", "enter")
        await wait_for(pilot, lambda: desk.chosen is not None and desk.chosen.verdict is not None)
        await pilot.press("up")  # #5, rejected
        await wait_for(pilot, lambda: desk.chosen is not None and desk.chosen.submission_id == 5)
        await pilot.press("x")
        await wait_screen(pilot, "reject #5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: desk.chosen is not None and desk.chosen.verdict is not None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is board)
        await pilot.press("a")
        await wait_for(pilot, lambda: _submissions(table) == [4])


def test_every_key_of_the_desk_has_an_id_a_keymap_knows_and_a_palette_title() -> None:
    known = binding_ids()
    for binding in Binding.make_bindings(ReviewScreen.BINDINGS):
        assert binding.id in known and binding.description and binding.tooltip, binding
        noun, _, verb = palette_title(binding).partition(": ")
        assert noun in NOUNS.values() and verb, binding
    assert {"open.review", "board.review"} <= set(known)
