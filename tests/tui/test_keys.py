"""Every key of the control room, through Pilot on the real app and a real run store.

Each command test checks the three links of the chain: the key writes the
command to the store's commands table, the daemon's stand-in applies it the
way the daemon does (agent row, ``agent.status`` and ``command.applied``
events in the same SQLite file), and the screen then shows the effect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import RichLog

from aar.runtime import RunPaths
from aar.store import RunStore
from tests.tui.helpers import apply_like_daemon, pending, screen_text, wait_for, wait_screen
from tests.tui.synthetic import build_run
from tui.app import AarApp
from tui.commands import NOUNS, palette_title
from tui.keymap import binding_ids
from tui.screens import inspect as inspect_screen
from tui.screens.forum import ForumScreen
from tui.screens.inspect import InspectScreen
from tui.screens.jobs import JobsScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.main import MainScreen
from tui.widgets.key_bar import KeyBar

NARROW = (80, 24)
WIDE = (160, 48)


async def _ready(pilot: Any) -> None:
    await wait_screen(pilot, "agent-1")


async def _open(pilot: Any, key: str, screen: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen))


async def _one_command(run: RunPaths) -> Any:
    commands = await pending(run.db)
    assert len(commands) == 1, commands
    return commands[0]


async def _wait_command(pilot: Any, run: RunPaths) -> Any:
    async def some() -> list[Any]:
        return await pending(run.db)

    for _ in range(100):
        if await some():
            break
        await pilot.pause(0.05)
    return await _one_command(run)


@pytest.mark.parametrize(
    ("keys", "kind", "status_shown"),
    [
        (["3", "p"], "pause", "PAUSED"),
        (["3", "r"], "resume", "THINKING"),
        (["3", "s", "y"], "stop", "STOPPED"),
    ],
)
async def test_status_commands_reach_the_store_and_their_effect_shows(
    run: RunPaths, keys: list[str], kind: str, status_shown: str
) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press(*keys)
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target) == (kind, "agent-3")
        await apply_like_daemon(run.db)
        # the list shows the new status, the focused agent's activity the applied command
        await wait_for(
            pilot,
            lambda: all(
                s in screen_text(app)
                for s in (f"3 agent-3 {status_shown}", f"⚑ {kind}:", f"· {status_shown.lower()} (by {kind})")
            ),
        )


async def test_interrupt_writes_the_command_and_shows_its_effect(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("i")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target) == ("interrupt", "agent-1")
        await apply_like_daemon(run.db)
        await wait_screen(pilot, "⚑ interrupt: killed the running command")


async def test_stop_asks_first_and_no_writes_nothing(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("s")
        await wait_screen(pilot, "Stop agent-1?")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert await pending(run.db) == []
        assert isinstance(app.screen, MainScreen)


@pytest.mark.parametrize("key", ["S", "ctrl+x"])
async def test_stop_run_confirms_then_targets_the_run(run: RunPaths, key: str) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press(key)
        await wait_screen(pilot, "Stop the whole run")
        await pilot.press("y")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target) == ("stop_run", "@run")
        await apply_like_daemon(run.db)
        await wait_screen(pilot, "STOPPING")


@pytest.mark.slow
async def test_redirect_sends_the_typed_message(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("2", "m")
        await wait_screen(pilot, "Redirect agent-2")
        await pilot.press(*"try [filtering]", "enter")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target, command.payload) == ("redirect", "agent-2", {"text": "try [filtering]"})
        await apply_like_daemon(run.db)
        await wait_screen(pilot, "⚑ redirect: message queued")


@pytest.mark.slow
async def test_redirect_cancelled_with_escape_writes_nothing(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("m", *"never mind", "escape")
        await pilot.pause(0.3)
        assert await pending(run.db) == []


@pytest.mark.slow
async def test_broadcast_targets_every_agent(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("b", *"read the forum", "enter")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target, command.payload) == ("redirect", "*", {"text": "read the forum"})
        await apply_like_daemon(run.db)
        await wait_for(pilot, lambda: screen_text(app).count("⚑ redirect: message queued") == 4)


async def test_approve_sends_the_pending_call_id_and_clears_it(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await wait_screen(pilot, "(1 to approve)")
        await pilot.press("2", "a")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target, command.payload) == ("approve", "agent-2", {"call_id": "call-2b"})
        await apply_like_daemon(run.db)
        # no tool.result yet (an approved call may run for minutes): the agent's running_tool status clears the approval
        await wait_for(
            pilot, lambda: "2 agent-2 RUNNING TOOL" in (text := screen_text(app)) and "(1 to approve)" not in text
        )


@pytest.mark.slow
async def test_deny_sends_the_reason(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("2", "d")
        await wait_screen(pilot, "Deny agent-2's bash call")
        await pilot.press(*"too risky", "enter")
        command = await _wait_command(pilot, run)
        assert command.kind == "deny" and command.payload == {"call_id": "call-2b", "reason": "too risky"}
        await apply_like_daemon(run.db)
        await wait_screen(pilot, "⚑ deny: tool call denied")


@pytest.mark.slow
async def test_deny_cancelled_with_escape_leaves_the_call_waiting(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        await pilot.press("2", "d")
        await wait_screen(pilot, "Deny agent-2's bash call")
        await pilot.press(*"hmm", "escape")
        await pilot.pause(0.3)
        assert await pending(run.db) == []
        assert "(1 to approve)" in screen_text(app)
        await pilot.press("d", "enter")  # an empty reason still denies
        command = await _wait_command(pilot, run)
        assert command.payload == {"call_id": "call-2b", "reason": ""}


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


async def test_approval_mode_toggles(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("A")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target) == ("approval_on", "agent-1")
        await apply_like_daemon(run.db)
        await wait_screen(pilot, "approval on")
        await pilot.press("A")
        command = await _wait_command(pilot, run)
        assert command.kind == "approval_off"


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


@pytest.mark.parametrize(
    ("query", "help_text", "then", "target"),
    [
        ("Agent: Pause", "Pause the focused agent", [], "agent-1"),
        ("Focus agent-3", "Act on agent-3 from now on (3)", ["p"], "agent-3"),  # any agent, past the 9 number keys too
    ],
)
@pytest.mark.slow
async def test_command_palette_lists_actions_and_runs_them(
    run: RunPaths, query: str, help_text: str, then: list[str], target: str
) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=WIDE) as pilot:
        await _ready(pilot)
        await pilot.press("ctrl+p", *query)
        await wait_screen(pilot, help_text)
        await pilot.press("enter", *then)
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target) == ("pause", target)


async def test_at_80x24_every_key_is_on_screen_and_the_focused_agent_scrolls_into_the_list(
    tmp_path: Path, daemon_locks: Callable[[RunPaths], RunPaths]
) -> None:
    run = daemon_locks(await build_run(tmp_path / "run14", agents=14))
    app = AarApp(run.root)
    async with app.run_test(size=NARROW) as pilot:
        await _ready(pilot)
        bar = screen_text(app).splitlines()[-2:]
        entries = [entry.plain for entry in app.screen.query_one(KeyBar).entries()]
        assert len(entries) == len({b.action for b in MainScreen.BINDINGS if b.show}) + 1  # and the palette
        assert all(any(entry in line for line in bar) for entry in entries) and "^p palette" in bar[-1], bar
        assert "agent-13" not in screen_text(app)
        await pilot.press("up", "up")  # from agent-1 back round to agent-13
        text = await wait_screen(pilot, "▶ 13 agent-13 THINKING")
        assert "5-14 of 14" in text and "agent-13 · activity" in text
        await pilot.press("p")
        command = await _wait_command(pilot, run)
        assert (command.kind, command.target) == ("pause", "agent-13")


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
