"""A widget drawn line by line, each line's strip reused while the line stays on screen.

Agent panes are redrawn many times a second while every agent prints; turning
the same lines into strips on every frame is what made key presses wait.
Lines compare by value (``tui.model.Line``), so a strip made for a line and
width is reused by the next frame that still shows it. Only the strips of the
frame on screen and the one before are kept: a bigger cache fills with strips
of lines long scrolled away (each strip carries a handful of caches of its
own), which every full garbage collection then scans while events pour in.
"""

from __future__ import annotations

from typing import Self

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.theme import Theme
from textual.widget import Widget

from tui.model import Line
from tui.widgets.lines import line_style

_PLAIN = Style()


def line_strip(line: Line, width: int, style: Style) -> Strip:
    """A tail line as one styled segment cut to ``width`` with an ellipsis, or padded to it.

    The same cells as rendering the line's ``Text`` through Rich (no wrap,
    ellipsis overflow), without Rich's general pipeline: under a flood every
    line on screen is new at every redraw, so this runs for most of a frame.
    """
    text, used = line.text, cell_len(line.text)
    if used > width:
        text, used = set_cell_size(text, width - 1) + "…", width
    segments = [Segment(text, style)]
    if used < width:
        segments.append(Segment(" " * (width - used), _PLAIN))
    return Strip(segments, width)


class LineView(Widget):
    """Subclasses say which lines to show (``visible_lines``); this draws them, newest at the bottom."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._strips: dict[tuple[Line, int], Strip] = {}
        self._previous: dict[tuple[Line, int], Strip] = {}
        self._frame: list[Text | Line] | None = None

    def visible_lines(self, height: int) -> list[Text | Line]:
        raise NotImplementedError

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        self._frame = None
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, theme: Theme) -> None:
        """Strips made in the old theme's colours are not reused."""
        self._strips, self._previous = {}, {}
        self.refresh()

    def _strip(self, item: Text | Line, width: int) -> Strip:
        if isinstance(item, Text):
            return self._render_text(item, width)
        key = (item, width)
        strip = self._strips.get(key) or self._previous.get(key)
        if strip is None:
            strip = line_strip(item, width, line_style(self, item.kind))
        self._strips[key] = strip
        return strip

    def _render_text(self, text: Text, width: int) -> Strip:
        console = self.app.console
        options = console.options.update(width=width, no_wrap=True, overflow="ellipsis", height=1)
        lines = console.render_lines(text, options, pad=True, new_lines=False)
        # Every segment gets a style: Textual's NO_COLOR filter reads each segment's colours.
        segments = [Segment(seg.text, seg.style or _PLAIN, seg.control) for seg in (lines[0] if lines else [])]
        return Strip(segments, width) if segments else Strip.blank(width, _PLAIN)

    def render_line(self, y: int) -> Strip:
        width, height = self.content_size
        if self._frame is None:
            self._frame = self.visible_lines(height)
            self._previous, self._strips = self._strips, {}
        if y >= len(self._frame) or width <= 0:
            return Strip.blank(width, _PLAIN)
        return self._strip(self._frame[y], width)
