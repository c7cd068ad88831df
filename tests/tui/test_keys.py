"""Every key of the control room, through Pilot on the real app and a real run store.

Each command test checks the whole chain: the key writes the command to the
store's commands table, the daemon's real command poller applies it (to the
agents' controls, the budget desk, the run's stop), records its effect in the
same SQLite file, and the screen then shows the effect.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import RichLog

from aar import inbox
from aar.disk import DISK_META
from aar.events import ApprovalRequested, DiskLow, SupervisorAsked
from aar.pulse import DAEMON
from aar.runtime import RunPaths
from aar.store import RunStore
from aar.store.inbox_table import SEEN_META
from agents.agent_state import Decision, answer_text
from tests.tui.daemon import Daemon, daemon_of
from tests.tui.helpers import pending, screen_text, wait_for, wait_screen
from tests.tui.synthetic import build_run
from tui.app import AarApp
from tui.commands import NOUNS, palette_title
from tui.keymap import binding_ids
from tui.screens import inspect as inspect_screen
from tui.screens.forum import ForumScreen
from tui.screens.inbox import InboxScreen
from tui.screens.inspect import InspectScreen
from tui.screens.jobs import JobsScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.main import MainScreen
from tui.widgets.key_bar import KeyBar
from tui.widgets.leaderboard_table import LeaderboardTable

NARROW = (80, 24)
WIDE = (160, 48)


async def _ready(pilot: Any) -> None:
    await wait_screen(pilot, "agent-1")


async def _open(pilot: Any, key: str, screen: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen))


@pytest.mark.parametrize(
    ("keys", "kind", "effect"),
    [
        (["3", "p"], "pause", "pauses after the step in flight"),
        (["3", "s", "y"], "stop", "stops after the step in flight; killed the running sandbox command"),
    ],
)
async def test_status_commands_reach_the_agent_through_the_real_poller(
    run: RunPaths, daemon: Daemon, keys: list[str], kind: str, effect: str
) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press(*keys)
        command = await daemon.apply()
        assert (command.kind, command.target) == (kind, "agent-3")
        assert await daemon.effect(command.id) == ("applied", effect)
        await wait_screen(pilot, f"⚑ {kind}: {effect}"[:40])  # in the focused agent's activity (cut to the pane)
    agent = daemon.controls["agent-3"]
    assert (agent.paused, agent.stopping) == (kind == "pause", kind == "stop")


async def test_resume_after_pause_lets_the_agent_go(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("3", "r")
        first = await daemon.apply()
        assert (first.kind, await daemon.effect(first.id)) == ("resume", ("applied", "was not paused"))
        await pilot.press("p")
        await daemon.apply()
        assert daemon.controls["agent-3"].paused
        await pilot.press("r")
        resume = await daemon.apply()
        assert await daemon.effect(resume.id) == ("applied", "resumed")
        await wait_screen(pilot, "⚑ resume: resumed")
    assert not daemon.controls["agent-3"].paused


async def test_interrupt_writes_the_command_and_shows_its_effect(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("i")
        command = await daemon.apply()
        assert (command.kind, command.target) == ("interrupt", "agent-1")
        await wait_screen(pilot, "⚑ interrupt: killed the running sandbox")
    assert daemon.interrupted == ["agent-1"] and daemon.controls["agent-1"].interrupted.is_set()


async def test_stop_asks_first_and_no_writes_nothing(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("s")
        await wait_screen(pilot, "Stop agent-1?")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("3", "p")  # a marker: the next key's command is the first in the store
        assert (await daemon.apply()).kind == "pause"
    assert [c.kind for c in await daemon.store.commands()] == ["pause"]
    assert not daemon.controls["agent-1"].stopping


@pytest.mark.parametrize("key", ["S", "ctrl+x"])
async def test_stop_run_confirms_then_targets_the_run(run: RunPaths, daemon: Daemon, key: str) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press(key)
        await wait_screen(pilot, "Stop the whole run")
        await pilot.press("y")
        command = await daemon.apply()
        assert (command.kind, command.target) == ("stop_run", "@run")
        assert await daemon.effect(command.id) == ("applied", "the run stops after every agent's step in flight")
    assert daemon.run_stop.is_set()


@pytest.mark.slow
async def test_redirect_sends_the_typed_message(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("2", "m")
        await wait_screen(pilot, "Redirect agent-2")
        await pilot.press(*"try [filtering]", "enter")
        command = await daemon.apply()
        assert (command.kind, command.target, command.payload) == ("redirect", "agent-2", {"text": "try [filtering]"})
        await wait_screen(pilot, "⚑ redirect: reads it before its next model")
    assert [r.text for r in daemon.controls["agent-2"].inbox] == ["try [filtering]"]


@pytest.mark.slow
async def test_redirect_cancelled_with_escape_writes_nothing(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("m", *"never mind", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("p")  # a marker: the next key's command is the first in the store
        assert (await daemon.apply()).kind == "pause"
    assert daemon.controls["agent-1"].inbox == []


@pytest.mark.slow
async def test_broadcast_targets_every_agent(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("b", *"read the forum", "enter")
        command = await daemon.apply()
        assert (command.kind, command.target, command.payload) == ("redirect", "*", {"text": "read the forum"})
        await wait_screen(pilot, "⚑ redirect *: agent-1: reads it before its next")  # in the status bar
    assert all([r.text for r in c.inbox] == ["read the forum"] for c in daemon.controls.values())


async def test_approve_sends_the_pending_call_id_and_the_agent_runs_it(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await wait_screen(pilot, "(1 to approve)")
        await pilot.press("2", "a")
        command = await daemon.apply()
        assert (command.kind, command.target, command.payload) == ("approve", "agent-2", {"call_id": "call-2b"})
        await wait_screen(pilot, "⚑ approve: approved call-2b")
    assert await daemon.approvals["call-2b"] == Decision(True)


@pytest.mark.slow
async def test_deny_sends_the_reason(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("2", "d")
        await wait_screen(pilot, "Deny agent-2's bash call")
        await pilot.press(*"too risky", "enter")
        command = await daemon.apply()
        assert command.kind == "deny" and command.payload == {"call_id": "call-2b", "reason": "too risky"}
        await wait_screen(pilot, "⚑ deny: denied call-2b")
    assert await daemon.approvals["call-2b"] == Decision(False, "too risky")


@pytest.mark.slow
async def test_deny_cancelled_with_escape_leaves_the_call_waiting(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("2", "d")
        await wait_screen(pilot, "Deny agent-2's bash call")
        await pilot.press(*"hmm", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert "(1 to approve)" in screen_text(app)
        assert not daemon.approvals["call-2b"].done()
        await pilot.press("d", "enter")  # an empty reason still denies
        command = await daemon.apply()
        assert command.payload == {"call_id": "call-2b", "reason": ""}
    assert await daemon.approvals["call-2b"] == Decision(False, "")
    assert len(await daemon.store.commands()) == 1, "the cancelled deny wrote nothing"


async def test_approve_without_a_pending_call_says_so_and_writes_nothing(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await _ready(pilot)
        await pilot.press("a")
        await wait_screen(pilot, "agent-1 has no tool call waiting")
        assert await pending(run.db) == []


@pytest.mark.parametrize(
    ("key", "said"),
    [("A", "no agent to act on yet"), ("p", "no agent to act on yet"), ("a", "no agent yet, so no tool call")],
)
async def test_agent_keys_before_any_agent_registers_say_so(
    tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths], key: str, said: str
) -> None:
    run = daemon_locks(await build_run(tmp_path / "empty", agents=0))
    app = AarApp(run.root)
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await wait_screen(pilot, "0 agents")
        await pilot.press(key)
        await wait_screen(pilot, said)
        assert await pending(run.db) == []


async def test_approval_mode_toggles(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("A")
        command = await daemon.apply()
        assert (command.kind, command.target) == ("approval_on", "agent-1")
        await wait_screen(pilot, "⚑ approval_on: tool calls now wait for approve / deny")
        assert daemon.controls["agent-1"].approval
        await wait_screen(pilot, "approval on")
        await pilot.press("A")
        command = await daemon.apply()
        assert command.kind == "approval_off"
        await wait_screen(pilot, "⚑ approval_off: approval mode off")
    assert not daemon.controls["agent-1"].approval


async def test_budget_key_changes_the_budget_through_the_desk(run: RunPaths, daemon: Daemon) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("2", "dollar_sign")
        await wait_screen(pilot, "Change agent-2's budget")
        await pilot.press("plus", "1", "full_stop", "5", "space", *"from", "space", *"agent", "minus", "1", "enter")
        command = await daemon.apply()
        assert (command.kind, command.target) == ("budget", "agent-2")
        assert command.payload == {"resource": "dollars", "amount": 1.5, "source": "agent-1"}
        status, effect = await daemon.effect(command.id)
        assert status == "applied" and "$5.00 → $6.50" in effect, effect
        await wait_screen(pilot, "$ budget dollars +1.5 (from agent-1): now 6.5")
    assert [(c.agent, c.delta) for c in await daemon.store.budget_changes()] == [("agent-2", 1.5), ("agent-1", -1.5)]


async def test_focus_keys_move_between_agents(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await wait_screen(pilot, "agent-1 · activity")
        await pilot.press("4")
        await wait_screen(pilot, "agent-4 · activity")
        await pilot.press("right")
        await wait_screen(pilot, "agent-1 · activity")  # wraps around
        await pilot.press("left", "up")
        await wait_screen(pilot, "agent-3 · activity")
        await pilot.press("down")
        text = await wait_screen(pilot, "agent-4 · activity")
        assert "▶ 4 agent-4" in text


@pytest.mark.parametrize("key", ["enter", "t"])
async def test_inspect_shows_transcript_tokens_and_workspace(run: RunPaths, key: str) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("3", key)
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        text = await wait_screen(pilot, "I will try idea 3.")
        assert "← result ok [call-3]" in text and "in 3.0k · out 750" in text and "$0.150" in text
        await wait_screen(pilot, "method.py")
        await pilot.press("tab", "enter")  # the file list: open the first file
        await wait_screen(pilot, "return 3")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_a_long_transcript_shows_its_newest_lines_without_freezing_the_keys(
    run: RunPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspect_screen, "TRANSCRIPT_LINES", 400)
    monkeypatch.setattr(inspect_screen, "WRITE_CHUNK", 20)
    async with await RunStore.open(run.db) as daemon:
        for step in range(10, 40):
            result = "\n".join(f"step {step} row {row}" for row in range(30))
            await daemon.append_messages(
                "agent-1", step, [("user", [{"type": "tool_result", "tool_use_id": f"c{step}", "content": result}])]
            )
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        screen = app.screen
        assert isinstance(screen, InspectScreen)
        for _ in range(5):  # the once-a-second poll firing mid-load must neither cancel it nor write a message twice
            screen._poll_transcript()
            await pilot.pause()
        await wait_for(pilot, lambda: screen.transcript_loaded)
        log = screen.query_one("#transcript", RichLog)
        text = [strip.text for strip in log.lines]
        assert len(text) == 401 and "earlier messages are not shown here" in text[0]
        assert text[-2:] == ["  step 39 row 28", "  step 39 row 29"]
        assert text.count("  step 39 row 0") == 1 and "  step 10 row 0" not in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


@pytest.mark.slow
async def test_a_malformed_message_is_shown_raw_and_later_messages_still_arrive(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as daemon:
        await daemon.append_messages(
            "agent-1", 10, [("assistant", [{"type": "text", "text": None}, {"type": "text", "text": "still here"}])]
        )
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("enter")
        text = await wait_screen(pilot, "a block this view cannot lay out: AttributeError")
        assert "'text': None" in text and "still here" in text
        async with await RunStore.open(run.db) as daemon:
            await daemon.append_messages("agent-1", 11, [("assistant", "the next step")])
        await wait_screen(pilot, "the next step")


async def test_a_long_workspace_file_shows_its_first_lines_and_says_what_it_left_out(
    run: RunPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspect_screen, "FILE_LINES", 300)
    monkeypatch.setattr(inspect_screen, "WRITE_CHUNK", 20)
    big = run.workspace("agent-1") / "a.csv"
    big.write_text("".join(f"row {i},0.5\n" for i in range(12_000)))
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("enter")
        await wait_screen(pilot, "a.csv")
        await pilot.press("tab", "enter")  # a.csv sorts first
        view = app.screen.query_one("#file-view", RichLog)
        await wait_for(pilot, lambda: any("more lines" in strip.text for strip in view.lines))
        text = [strip.text for strip in view.lines]
        assert text[0] == "row 0,0.5" and text[299] == "row 299,0.5" and "row 300" not in "".join(text)
        note = f"… 11,701 more lines not shown; the whole file is {big}"
        assert "".join(text[300:]).replace(" ", "") == note.replace(" ", "")  # wrapped to the pane, path and all


@pytest.mark.slow
async def test_forum_search_finds_posts(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, ForumScreen))
        await pilot.press(*"threshold", "enter")
        text = await wait_screen(pilot, "1 matching")
        assert "#3 agent-3 · Filtering threshold" in text and "Confidence loss" not in text


@pytest.mark.slow
async def test_forum_reply_as_supervisor_reaches_the_store_and_the_screen(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await _open(pilot, "f", ForumScreen)
        await pilot.press("up", "up")  # from the newest post (#4) to #2
        await wait_screen(pilot, "aux_weight 0.5 gave PGR")
        await pilot.press("r")
        await wait_screen(pilot, "Reply to #2 as supervisor")
        await pilot.press(*"Good work", "enter", *"Now try 3 seeds.", "ctrl+s")
        await wait_screen(pilot, "#5 supervisor ↳#2 Good work")
        async with await RunStore.open(run.db) as store:
            post = await store.post(5)
        assert post is not None and (post.author, post.parent_id, post.title, post.body) == (
            "supervisor",
            2,
            "Good work",
            "Now try 3 seeds.",
        )
        await pilot.press("escape")
        await wait_screen(pilot, "forum · 5 posts")


async def test_leaderboard_and_jobs_screens(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await _open(pilot, "l", LeaderboardScreen)
        text = await wait_screen(pilot, "1 flagged")
        assert "0.970 [0.92, 1.02]  probe" in text
        await pilot.press("escape", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        text = await wait_screen(pilot, "baseline")
        assert "1 queued" in text


async def test_a_submission_scored_twice_on_one_split_shows_both_results(run: RunPaths) -> None:
    """A re-run scoring job leaves two results for one submission; both are rows, neither crashes the table."""
    async with await RunStore.open(run.db) as daemon:
        job = await daemon.enqueue_job("score", {"submission": 1}, submission_id=1, status="done")
        await daemon.add_result(job, submission_id=1, split="feedback", pgr=0.44, ci_low=0.4, ci_high=0.48, metrics={})
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await _open(pilot, "l", LeaderboardScreen)
        text = await wait_screen(pilot, "0.440 [0.40, 0.48]")
        assert "0.410 [0.36, 0.46]" in text


async def test_the_baselines_sit_among_the_submissions_as_reference_rows(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as daemon:
        job = await daemon.enqueue_job("baselines", {}, status="done")
        for baseline, pgr in (("vanilla", 0.25), ("unsupervised", 0.6)):
            await daemon.add_result(
                job,
                submission_id=None,
                split="feedback",
                pgr=pgr,
                ci_low=pgr - 0.05,
                ci_high=pgr + 0.05,
                metrics={"baseline": baseline},
            )
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await _open(pilot, "l", LeaderboardScreen)
        text = await wait_screen(pilot, "unsupervised clusters")
        lines = text.splitlines()

        def line_of(needle: str) -> int:
            return next(i for i, line in enumerate(lines) if needle in line)

        # Each baseline sits where its PGR falls among the submissions (0.970 and 0.410 in this run).
        assert line_of("0.970 [0.92, 1.02]") < line_of("0.600 [0.55, 0.65]") < line_of("0.410 [0.36, 0.46]")
        assert line_of("0.410 [0.36, 0.46]") < line_of("0.250 [0.20, 0.30]")
        assert "ref" in lines[line_of("vanilla transfer")]
        table = app.screen.query_one(LeaderboardTable)
        assert [getattr(r, "submission_id", "ref") for r in table.rows_shown][:3] == [3, "ref", 1]


@pytest.mark.parametrize(
    ("query", "help_text", "then", "target"),
    [
        ("Agent: Pause", "Pause the focused agent", [], "agent-1"),
        ("Focus agent-3", "Act on agent-3 from now on (3)", ["p"], "agent-3"),  # any agent, past the 9 number keys too
    ],
)
@pytest.mark.slow
async def test_command_palette_lists_actions_and_runs_them(
    run: RunPaths, daemon: Daemon, query: str, help_text: str, then: list[str], target: str
) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("ctrl+p", *query)
        await wait_screen(pilot, help_text)
        await pilot.press("enter", *then)
        command = await daemon.apply()
        assert (command.kind, command.target) == ("pause", target)
    assert daemon.controls[target].paused


async def test_at_80x24_every_key_is_on_screen_and_the_focused_agent_scrolls_into_the_list(
    tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]
) -> None:
    run = daemon_locks(await build_run(tmp_path / "run14", agents=14))
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        bar = screen_text(app).splitlines()[-2:]
        entries = [entry.plain for entry in app.screen.query_one(KeyBar).entries()]
        assert (
            len(entries) == len({b.action for b in Binding.make_bindings(MainScreen.BINDINGS) if b.show}) + 1
        )  # and the palette
        assert all(any(entry in line for line in bar) for entry in entries) and "^p palette" in bar[-1], bar
        assert "agent-13" not in screen_text(app)
        await pilot.press("up", "up")  # from agent-1 back round to agent-13
        text = await wait_screen(pilot, "▶ 13 agent-13 THINKING")
        assert "5-14 of 14" in text and "agent-13 · activity" in text
        await pilot.press("p")
        async with daemon_of(run) as daemon:
            command = await daemon.apply()
            assert (command.kind, command.target) == ("pause", "agent-13")
            assert daemon.controls["agent-13"].paused


async def test_panes_need_rows_as_well_as_columns_or_agents_collapse_to_a_list(
    tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]
) -> None:
    """9 agents at 120x24 would be 3 rows of empty borders; they are a list until the terminal grows."""
    run = daemon_locks(await build_run(tmp_path / "run9", agents=9))
    app = AarApp(run.root)
    async with app.run_test(size=(120, 24)) as pilot:
        text = await wait_screen(pilot, "9 agent-9 THINKING")
        assert app.screen.has_class("-narrow") and "agent-1 · activity" in text
        await pilot.resize_terminal(160, 48)
        text = await wait_screen(pilot, "agent-1 · sandbox")
        assert app.screen.has_class("-wide") and "I will try idea 9 on the toy task." in text
        await pilot.resize_terminal(120, 24)
        await wait_screen(pilot, "agent-1 · activity")


@pytest.mark.parametrize("screen", [MainScreen, ForumScreen, InspectScreen, LeaderboardScreen, JobsScreen])
def test_every_key_of_every_screen_has_an_id_a_keymap_knows_and_a_palette_title(screen: type[Screen[None]]) -> None:
    known = binding_ids()
    for binding in Binding.make_bindings(screen.BINDINGS):
        assert binding.id in known and binding.description, binding
        noun, _, verb = palette_title(binding).partition(": ")
        assert noun in NOUNS.values() and verb, binding
        assert binding.tooltip or binding.action.startswith("focus_agent"), binding  # the palette's help


async def test_q_detaches_and_leaves_the_run_alone(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_value == 0
    async with await RunStore.open(run.db) as store:
        assert await store.get_meta("state") == "running"
        assert await store.commands() == []
        seen = await store.get_meta(SEEN_META)
        assert seen is not None and abs(float(seen) - time.time()) < 60, "the detach is where the next digest starts"


async def test_rejected_submissions_flag_counts_and_the_unisolated_mark_show(run: RunPaths) -> None:
    async with await RunStore.open(run.db) as daemon:
        over = await daemon.add_submission("agent-2", "method", {"source": "x"}, label="launder5.py")
        await daemon.update_submission(
            over, status="rejected", flags=["over_budget"], error="method budget used: 4 methods per agent"
        )
        await daemon.set_meta("isolation", "none")
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        assert "UNISOLATED" in await wait_screen(pilot, "UNISOLATED"), "the status bar says so"
        await _open(pilot, "l", LeaderboardScreen)
        text = await wait_screen(pilot, "1 rejected")
        assert "method budget used: 4" in text and "launder5.py" in text
        assert "agent-2: over_budget 1" in text
        assert "UNISOLATED" in text, "the scores say how they were made"


async def test_inbox_keys_answer_approve_and_deny_through_the_real_poller(tmp_path: Path, daemon_locks: Any) -> None:
    run = daemon_locks(await build_run(tmp_path / "run"))
    async with await RunStore.open(run.db) as agents:
        agents.emit("agent-3", SupervisorAsked(step=4, question="Which seed?", call_id="q-1"))
        agents.emit("agent-4", ApprovalRequested(call_id="call-4b", tool="bash", input={"command": "rm -rf out"}))
        await agents.flush()
        await inbox.catch_up(agents)
    app = AarApp(run.root, poll_interval=0.05)
    async with daemon_of(run) as daemon, app.run_test(size=WIDE) as pilot:
        daemon.controls["agent-3"].ask("q-1")
        await _ready(pilot)
        await pilot.press("I")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(app.screen.items) == 4)
        screen = app.screen
        assert isinstance(screen, InboxScreen)

        async def choose(call_id: str) -> None:
            [index] = [i for i, item in enumerate(screen.items) if item.call_id == call_id]
            await pilot.press("home", *["down"] * index)

        await choose("q-1")
        await pilot.press("a")
        await wait_screen(pilot, "Answer agent-3: Which seed?")
        await pilot.press(*"seed 0", "enter")
        answer = await daemon.apply()
        assert (answer.kind, answer.target, answer.payload) == (
            "answer",
            "agent-3",
            {"call_id": "q-1", "text": "seed 0"},
        )
        assert [r.text for r in daemon.controls["agent-3"].inbox] == [answer_text("q-1", "seed 0")]

        await choose("call-2b")
        await pilot.press("a")
        approve = await daemon.apply()
        assert (approve.kind, approve.target) == ("approve", "agent-2")
        assert await daemon.approvals["call-2b"] == Decision(True)

        await choose("call-4b")
        await pilot.press("d")
        await wait_screen(pilot, "Deny agent-4's call: why?")
        await pilot.press(*"not that folder", "enter")
        deny = await daemon.apply()
        assert (deny.kind, deny.target) == ("deny", "agent-4")
        assert await daemon.approvals["call-4b"] == Decision(False, "not that folder")
        assert [c.status for c in await daemon.store.commands()] == ["applied"] * 3


async def test_the_status_bar_warns_of_a_full_disk_while_the_team_waits_and_clears_after(run: RunPaths) -> None:
    low = DiskLow(path=str(run.root), free_mb=3.0, reserve_mb=200.0, need_mb=297.0, cause="under the 200 MB reserve")
    async with await RunStore.open(run.db) as daemon:
        await daemon.set_meta(DISK_META, low.model_dump_json())
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        assert "DISK FULL: free 297 MB" in await wait_screen(pilot, "DISK FULL"), (
            "early in the line: 80 columns show it"
        )
        async with await RunStore.open(run.db) as daemon:
            await daemon.set_meta(DISK_META, "")

        await wait_for(pilot, lambda: "DISK FULL" not in screen_text(pilot.app), timeout=10)


async def test_a_daemon_that_holds_the_lock_but_stopped_beating_shows_as_not_responding(run: RunPaths) -> None:
    beat = run.beat(DAEMON)
    beat.parent.mkdir(parents=True, exist_ok=True)
    beat.touch()
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        assert "NOT RESPONDING" not in screen_text(pilot.app), "a daemon that beats responds"
        os.utime(beat, (time.time() - 42, time.time() - 42))  # frozen (SIGSTOP) 42 s ago, lock still held
        text = await wait_screen(pilot, "NOT RESPONDING", timeout=10)
        assert "NOT RESPONDING 4" in text, text
        beat.touch()  # it was continued
        await wait_for(pilot, lambda: "NOT RESPONDING" not in screen_text(pilot.app), timeout=10)
