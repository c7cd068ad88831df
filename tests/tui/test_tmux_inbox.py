"""``ask_supervisor`` in a real terminal: tmux runs a scripted team whose first researcher asks before its
first claim; the badge shows it, ``I`` opens the inbox, ``a`` answers, and the researcher goes on with
the answer in hand (its first claim follows the answer, not its direction)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.test_tmux import AAR, Terminal, terminal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CONFIG = """
[run]
name = "ask"
runs_dir = "{runs}"
max_steps = 12

[team]
backend = "scripted"
pace_s = 0.2

[[agents]]
name = "asker"
direction = "Bootstrapping / self-training. Ask the supervisor before your first claim."

[[agents]]
name = "other"
direction = "Tune vanilla transfer."

[sandbox]
backend = "local"

[task]
name = "toy"

[evaluator]
device = "cpu"
seeds = 1
"""


def test_an_agent_asks_and_the_answer_from_the_inbox_lets_it_go_on(terminal: Terminal, tmp_path: Path) -> None:
    config = tmp_path / "ask.toml"
    config.write_text(CONFIG.format(runs=tmp_path / "runs"))
    terminal.type_line(f"{AAR} run {config}")
    terminal.wait("asker", "other", "inbox 1", timeout=120)
    terminal.keys("I")
    screen = terminal.wait("is there a method family you want me to try first?", "blocking an agent")
    assert "asker" in screen
    terminal.keys("a")
    terminal.wait("Answer asker")
    terminal.type_line("go with confident-label filtering")
    terminal.keys("Escape")
    # Its direction is bootstrapping; the answer names filtering, and its first claim follows the answer.
    screen = terminal.wait("asker Claim: filtering", timeout=90)
    assert "inbox 1" not in screen.splitlines()[0], "answered: nothing blocks an agent any more"
    terminal.keys("q")
    terminal.wait("detached from")
