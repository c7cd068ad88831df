"""A user keymap remaps keys by binding id; a keymap that cannot be used is one line, before the screen opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from tests.tui.helpers import pending, screen_text, wait_for, wait_screen
from tui.app import AarApp
from tui.keymap import KEYMAP_ENV, KeymapError, load_keymap, parse_keymap
from tui.widgets.key_bar import KeyBar

KEYMAP = """
"agent.pause" = "z"      # a quoted id
[team]
broadcast = "ctrl+b"     # the same, as a table
"""


@pytest.mark.slow
async def test_a_remapped_key_works_and_the_old_one_does_not(
    run: RunPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keymap.toml"
    path.write_text(KEYMAP)
    monkeypatch.setenv(KEYMAP_ENV, str(path))
    app = AarApp(run.root, keymap=load_keymap())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, "agent-1")
        await pilot.press("3", "p", "ctrl+b")  # ctrl+b (broadcast, remapped): its command comes after p's, if any
        await wait_screen(pilot, "Broadcast")
        await pilot.press(*"marker", "enter")
        await wait_for(pilot, lambda: "redirect" in app.issued.values())
        assert [c.kind for c in await pending(run.db)] == ["redirect"]  # p is no longer pause
        await pilot.press("z")
        await wait_for(pilot, lambda: "pause" in app.issued.values())
        [_, command] = await pending(run.db)
        assert (command.kind, command.target) == ("pause", "agent-3")
        entries = [entry.plain for entry in app.screen.query_one(KeyBar).entries()]
        assert "z Pause" in entries and "^b Bcast" in entries and "p Pause" not in entries
        await pilot.press("ctrl+p", *"Agent: Pause")
        await wait_screen(pilot, "Pause the focused agent after its current step (z)")  # the palette says the new key


def test_no_keymap_file_means_the_default_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYMAP_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_keymap() == {}
    (tmp_path / "aar").mkdir()
    (tmp_path / "aar" / "keymap.toml").write_text('"open.forum" = "F"\n')
    assert load_keymap() == {"open.forum": "F"}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('"agent.pasue" = "P"', "keymap k.toml: no key has the id 'agent.pasue' (did you mean 'agent.pause'?);"),
        ("[agent]\npause = 3", "keymap k.toml: agent.pause = 3 is not a key; give one or more, comma-separated,"),
        ('"agent.pause" = "ctrl+p, "', "keymap k.toml: agent.pause = 'ctrl+p, ' is not a key;"),
        ("agent.pause = P", "keymap k.toml: not valid TOML ("),
    ],
)
def test_a_bad_keymap_says_what_to_fix_on_one_line(text: str, line: str) -> None:
    with pytest.raises(KeymapError) as raised:
        parse_keymap(text, "k.toml")
    assert str(raised.value).startswith(line) and "\n" not in str(raised.value)


def test_aar_attach_with_an_unknown_id_in_the_keymap_is_one_line_and_no_screen(run: RunPaths, tmp_path: Path) -> None:
    path = tmp_path / "keymap.toml"
    path.write_text('"agent.pause" = "z"\n"run.halt" = "H"\n')
    out = subprocess.run(
        [sys.executable, "-m", "aar_app.cli", "attach", str(run.root)],
        env={**os.environ, KEYMAP_ENV: str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.splitlines() == [
        f"aar: error: keymap {path}: no key has the id 'run.halt' (did you mean 'run.stop'?);"
        " the README's control room lists the ids"
    ]
