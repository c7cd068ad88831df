"""Tail lines are drawn by a fast path (``line_strip``); it must give the same cells as Rich's own rendering."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style

from tui.model import Line, LineKind
from tui.renderables import data
from tui.widgets.line_view import line_strip

STYLES = {
    "out": Style(),
    "tool": Style(color="#4ebf71", bold=True),
    "thinking": Style(color="#808080", italic=True),
    "approval": Style(color="#ffa62b", bold=True, reverse=True),
}

SAMPLES = [
    "",
    "hello",
    "x" * 60,
    "日本語のテキスト" * 4,
    "a日b",
    "→ bash ls -la",
    "emoji 😀 ok " * 5,
    "  lead",
    "trail  ",
    "\\x1b[31m[bold]",
]


def _rich_cells(line: Line, width: int) -> list[tuple[str, Style]]:
    """What rendering the line's Text through Rich gives (no wrap, ellipsis), padded to the width."""
    console = Console(width=200)
    options = console.options.update(width=width, no_wrap=True, overflow="ellipsis", height=1)
    rendered = console.render_lines(data(line.text, STYLES[line.kind]), options, pad=True, new_lines=False)[0]
    return [(seg.text, seg.style or Style()) for seg in rendered if seg.text]


@pytest.mark.parametrize("kind", sorted(STYLES))
def test_line_strip_matches_rich(kind: LineKind) -> None:
    for text in SAMPLES:
        for width in (1, 2, 3, 7, 10, 11, 33, 80):
            line = Line(kind, text)
            strip = line_strip(line, width, STYLES[line.kind])
            assert strip.cell_length == width, (text, width)
            got = [(seg.text, seg.style or Style()) for seg in strip if seg.text]
            assert got == _rich_cells(line, width), (text, width)
            assert all(isinstance(seg, Segment) and seg.style is not None for seg in strip)
