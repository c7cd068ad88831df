"""Reading what is on the screen, and waiting for it (the daemon's part for commands is ``tests.tui.daemon``)."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from textual.app import App
from textual.pilot import Pilot

from aar.store import CommandRow, RunStore
from tests.support import eventually

_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')
CELL_WIDTH = 12.2
"""Width of one terminal cell in Rich's SVG export."""

BeforeShot = Callable[[Pilot[Any]], Awaitable[None]]
"""What a snapshot test does in the app before the screenshot (wait for the data, press keys)."""


class SnapCompare(Protocol):
    """pytest-textual-snapshot's ``snap_compare`` fixture: the app's screen after ``run_before`` matches the stored SVG."""

    def __call__(
        self,
        app: App[Any],
        press: Iterable[str] = (),
        terminal_size: tuple[int, int] = (80, 24),
        run_before: BeforeShot | None = None,
    ) -> bool: ...


def screen_text(app: App[Any]) -> str:
    """The terminal as text, line by line, from the same export the snapshots use."""
    rows: dict[float, list[tuple[float, str]]] = defaultdict(list)
    for m in _TEXT.finditer(app.export_screenshot()):
        rows[float(m.group(2))].append((float(m.group(1)), html.unescape(m.group(3))))
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            line = line.ljust(round(x / CELL_WIDTH)) + text
        lines.append(line.replace("\xa0", " "))
    return "\n".join(lines)


async def wait_for(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``check()`` holds; fails with what was on screen."""
    await eventually(
        check, timeout=timeout, interval=0.05, what=lambda: f"the screen; it was:\n{screen_text(pilot.app)}"
    )


async def wait_screen(pilot: Pilot[Any], needle: str, timeout: float = 5.0) -> str:
    text = ""

    def shown() -> bool:
        nonlocal text
        text = screen_text(pilot.app)
        return needle in text

    await wait_for(pilot, shown, timeout)
    return text


async def pending(db: Path) -> list[CommandRow]:
    async with await RunStore.open(db) as store:
        return await store.pending_commands()
