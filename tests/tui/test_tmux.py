"""The real thing in a real terminal: tmux runs ``aar run examples/demo.toml``, a key pauses an agent,
``q`` detaches while the daemon keeps the run going, and ``aar attach`` brings the TUI back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import eventually_sync

REPO = Path(__file__).resolve().parents[2]
AAR = str(Path(sys.executable).with_name("aar"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
    pytest.mark.timeout(240),
]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


class Terminal:
    def __init__(self, name: str) -> None:
        self.name = name

    def capture(self) -> str:
        return _tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        _tmux("send-keys", "-t", self.name, *keys)

    def type_line(self, line: str) -> None:
        _tmux("send-keys", "-t", self.name, "-l", line)
        _tmux("send-keys", "-t", self.name, "Enter")

    def wait(self, *needles: str, timeout: float = 90.0) -> str:
        def shown() -> str | None:
            screen = self.capture()
            return screen if all(n in screen for n in needles) else None

        return eventually_sync(
            shown, timeout=timeout, interval=0.3, what=lambda: f"{needles}; the terminal shows:\n{self.capture()}"
        )


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    name = f"aar-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TERM": "xterm-256color", "NO_COLOR": "1"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "48", "-c", str(REPO), "bash --norc --noprofile"],
        check=True,
        env=env,
    )
    try:
        yield Terminal(name)
    finally:
        runs = tmp_path / "runs"
        for run in runs.glob("*/run.db") if runs.exists() else []:
            subprocess.run([AAR, "stop", run.parent.name, "--runs-dir", str(runs)], capture_output=True, timeout=120)
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def _runs(runs: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [AAR, "ls", "--runs-dir", str(runs), "--format", "json"], capture_output=True, text=True, check=True, timeout=60
    )
    runs_listed: list[dict[str, object]] = json.loads(out.stdout)
    return runs_listed


def test_run_pause_detach_and_attach_in_tmux(terminal: Terminal, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    terminal.type_line(f"{AAR} run examples/demo.toml --set run.runs_dir={runs}")
    screen = terminal.wait("agent-1", "agent-4", "forum", timeout=120)
    assert "▶ 1 agent-1" in screen

    terminal.keys("p")
    terminal.wait("1 agent-1 PAUSED", timeout=90)

    terminal.keys("q")
    terminal.wait("detached from", "aar attach")
    [run] = _runs(runs)
    assert run["state"] == "running" and run["daemon_pid"]

    terminal.type_line(f"{AAR} attach --runs-dir {runs}")
    screen = terminal.wait("1 agent-1 PAUSED", "forum", timeout=60)
    assert "agent-4" in screen
    terminal.keys("q")
    terminal.wait("detached from")
