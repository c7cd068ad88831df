"""A scrollable, read-only view of a source file or a diff, drawn line by line.

Only the lines on screen are turned into strips. A source is highlighted with Rich's ``Syntax`` a chunk of
lines at a time, after a chunk first scrolls into view: highlighting a 2,000-line method at once takes
about 300 ms, which would hold every key press of the review desk. A chunk's lines are drawn plain in the
frame that first shows them and coloured in the next, so the source is on screen without waiting for
Pygments. Each chunk is lexed on its own, so a string spanning two chunks is coloured as code after the
boundary; the text is right either way. A diff
is coloured by its lines' first character, without a lexer. Everything shown is agent text: escaped with
``visible`` and never parsed as markup.
"""

from __future__ import annotations

from typing import Literal

from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.text import visible

CHUNK = 60
"""Lines highlighted together (10 to 20 ms of Pygments for 60 lines of Python): a screen's worth."""
MAX_WIDTH = 1000
"""Cells of one line drawn (the rest of a megabyte-long line is not)."""
DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}
GUTTER = Style(dim=True)


class CodeView(ScrollView, can_focus=True):
    """Shows ``lines`` of ``kind`` source (highlighted as ``language``) or diff (coloured by prefix)."""

    DEFAULT_CSS = """
    CodeView {
        height: 1fr;
        overflow: auto auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        """What is shown, escaped, one entry per line (what the tests read)."""
        self.kind: Literal["source", "diff"] = "source"
        self.language = "python"
        self._styled: dict[int, Text] = {}
        self._pending: set[int] = set()
        """Chunks drawn plain, waiting to be highlighted after the frame."""
        self._gutter = 0

    def show(
        self, text: str | list[str], *, kind: Literal["source", "diff"] = "source", language: str = "python"
    ) -> None:
        """Replace what is shown (from its first line)."""
        raw = text.split("\n") if isinstance(text, str) else text
        self.lines = [visible(line)[:MAX_WIDTH] for line in raw]
        self.kind, self.language = kind, language
        self._styled, self._pending = {}, set()
        self._gutter = len(str(len(self.lines))) + 1 if kind == "source" else 0
        width = max((len(line) for line in self.lines), default=0) + self._gutter
        self.virtual_size = Size(width, len(self.lines))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def _line(self, index: int) -> Text:
        styled = self._styled.get(index)
        if styled is not None:
            return styled
        line = self.lines[index]
        if self.kind == "diff":
            style = "bold" if line.startswith(("+++", "---")) else DIFF_STYLES.get(line[:1], "")
            self._styled[index] = Text(line, style=style, end="")
            return self._styled[index]
        start = index - index % CHUNK
        if start not in self._pending:
            self._pending.add(start)
            self.call_after_refresh(self._highlight, start, self.lines)
        return Text(line, end="")

    def _highlight(self, start: int, lines: list[str]) -> None:
        if lines is not self.lines:
            return  # shown something else meanwhile
        chunk = lines[start : start + CHUNK]
        code = "\n".join(chunk)
        syntax = Syntax(code, self.language, theme="ansi_dark", background_color="default")
        styled = syntax.highlight(code).split("\n", allow_blank=True)
        for offset, line in enumerate(chunk):
            text = styled[offset] if offset < len(styled) else Text(line)
            text.end = ""
            self._styled[start + offset] = text
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        segments: list[Segment] = []
        if self._gutter:
            segments.append(Segment(f"{index + 1:>{self._gutter - 1}} ", GUTTER))
        segments += self._line(index).render(self.app.console)
        strip = Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width)
        return strip.apply_style(base)
