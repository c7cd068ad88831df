"""Agent and forum text is data: markup stays literal and ANSI escapes are spelled out, never sent to the terminal."""

from __future__ import annotations

import re

import pytest

from aar.events import ModelText, SandboxOutput
from aar.runtime import RunPaths
from aar.store import MessageRow, RunStore
from tests.tui.helpers import screen_text, wait_for, wait_screen
from tui.app import AarApp
from tui.model import Tail
from tui.renderables import data
from tui.screens.forum import ForumScreen
from tui.text import MAX_LINE, clip, one_line, visible
from tui.widgets.transcript import message_lines


def test_visible_spells_out_control_characters() -> None:
    assert visible("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert visible("a\tb\r\nc\rd\x07\x9b") == "a    b\nc\nd\\x07\\x9b"
    assert visible("[bold]x[/]") == "[bold]x[/]"
    assert visible(b"caf\xff!".decode("utf-8", "surrogateescape")) == "caf\ufffd!"  # a terminal cannot encode \udcff


def test_one_line_looks_at_the_head_of_a_huge_text_and_says_it_cut() -> None:
    assert one_line("a  b\n\tc\x1b", 20) == "a b c\\x1b"
    assert one_line("x" * 30, 20) == "x" * 19 + "…"
    assert one_line("ok\n" + " " * 100 + "tail", 20) == "ok…"  # the head is blank after "ok": more follows
    huge = "epoch 1 loss 0.5\n" * 100_000
    assert one_line(huge, 300) == clip(" ".join(huge[:1200].split()), 300)


def test_a_megabyte_on_one_line_is_cut_in_the_transcript() -> None:
    row = MessageRow(
        id=1,
        agent="a",
        step=1,
        role="user",
        content=[{"type": "tool_result", "tool_use_id": "c", "content": "x" * 1_000_000}],
        ts=0.0,
    )
    _head, _result, body = message_lines(row)
    assert body.plain == "  " + "x" * MAX_LINE + f"… ({1_000_000 - MAX_LINE:,} more characters in the store)"


def test_data_is_never_parsed_as_markup() -> None:
    text = data("[bold red]x[/] [link=file:///etc/passwd]y[/link]")
    assert text.plain == "[bold red]x[/] [link=file:///etc/passwd]y[/link]"
    assert text.spans == []


def test_tail_joins_streamed_chunks_and_escapes_them() -> None:
    tail = Tail(maxlen=3)
    for chunk in ("hel", "lo\nwor", "ld\x1b[2J", "\n"):
        tail.write("text", chunk, stream=True)
    tail.write("tool", "→ bash ls")
    assert [line.text for line in tail.lines] == ["hello", "world\\x1b[2J", "→ bash ls"]
    for i in range(10):
        tail.write("out", f"line {i}")
    assert [line.text for line in tail.lines] == ["line 7", "line 8", "line 9"]


async def test_hostile_agent_text_shows_literally_on_the_main_screen(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(160, 48)) as pilot:
        # The whole line, in the focused agent's activity (an agent card shows it cut short first).
        text = await wait_screen(pilot, "[bold red]not markup[/] \\x1b[31mred?\\x1b[0m done")
        assert "#1 agent-1 [red]hostile title[/]" in text
        assert "\x1b" not in app.export_screenshot()


async def test_hostile_forum_post_shows_literally_in_its_thread(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForumScreen))
        await pilot.press("home")
        text = await wait_screen(pilot, "#1 agent-1 · [red]hostile title[/]")
        assert (
            "[bold red]not markup[/] \\x1b[31mred?\\x1b[0m done" in screen_text(app)
            and "\x1b" not in app.export_screenshot()
        )
        assert text


async def test_readable_with_no_color(run: RunPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR draws in greys only; statuses read as words, and stderr and thinking lines as marks."""
    monkeypatch.setenv("NO_COLOR", "1")
    async with await RunStore.open(run.db) as daemon:
        daemon.emit("agent-2", SandboxOutput(call_id="c", stream="stderr", text="Traceback: boom\n"))
        daemon.emit("agent-2", ModelText(step=3, text="weighing two options", thinking=True))
        await daemon.flush()
    app = AarApp(run.root)
    async with app.run_test(size=(160, 48)) as pilot:
        text = await wait_screen(pilot, "WAITING APPROVAL")
        assert "▶ 1 agent-1 THINKING" in text and "(1 to approve)" in text
        assert "2> Traceback: boom" in text and "~ weighing two options" in text
        await pilot.press("2")
        await wait_screen(pilot, "agent-2 · sandbox output")
        fills = {
            tuple(int(c[i : i + 2], 16) for i in (0, 2, 4))
            for c in re.findall(r"fill: #([0-9a-f]{6})", app.export_screenshot())
        }
    assert fills and all(max(rgb) - min(rgb) <= 8 for rgb in fills), sorted(fills)  # greys (and the theme's near-greys)


@pytest.mark.slow
async def test_a_workspace_file_name_is_shown_literally_as_its_title(run: RunPaths) -> None:
    (run.workspace("agent-1") / "[b]x\x1b[2J.py").write_text("print(1)\n")
    app = AarApp(run.root)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("enter")
        await wait_screen(pilot, "method.py")
        await pilot.press("tab", "enter")  # the first file, sorted: the hostile one
        text = await wait_screen(pilot, "print(1)")
        assert "[b]x\\x1b[2J.py" in text and "\x1b" not in app.export_screenshot()
