"""An agent as a pane (wide terminals) and the agents as a list (narrow ones)."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.widget import Widget

from tui.model import AgentView, Line
from tui.renderables import data
from tui.text import one_line
from tui.widgets.line_view import LineView
from tui.widgets.lines import join_lines, status_text, usage_text


def _header(index: int, view: AgentView, focused: bool, widget: Widget) -> Text:
    row = view.row
    head = Text(("▶ " if focused else "  ") + f"{index} ", style="bold", end="")
    head.append(row.name, style="bold")
    if row.lineage:
        head.append_text(data(f" ⑂ {row.lineage}", "dim"))
    head.append(" ")
    head.append_text(status_text(view.status, widget))
    if view.pending:
        head.append(f" ({len(view.pending)} to approve)", style="bold yellow")
    return head


class AgentCard(LineView):
    """Name, model, status, step, tokens and dollars, then the newest lines of its activity."""

    DEFAULT_CSS = """
    AgentCard {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        border: round $panel-lighten-2;
        padding: 0 1;
        height: 1fr;
    }
    AgentCard.-focused {
        border: heavy $accent;
    }
    """

    def __init__(self, view: AgentView, index: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.index = index

    @property
    def focused(self) -> bool:
        return self.has_class("-focused")

    def visible_lines(self, height: int) -> list[Text | Line]:
        view = self.view
        info = usage_text(view.row)
        info.append(" · ")
        info.append_text(data(view.row.model, "dim"))
        if view.row.approval:
            info.append(" · approval on", style="bold")
        return [_header(self.index, view, self.focused, self), info, *view.tail.last(max(height - 2, 0))]


class AgentList(Widget):
    """One line per agent: what fits at 80 columns, with the focused one marked."""

    DEFAULT_CSS = """
    AgentList {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        height: auto;
        max-height: 12;
        border: round $panel-lighten-2;
        border-subtitle-align: right;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.views: list[AgentView] = []
        self.focused_name: str | None = None

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(len(self.views), 1)

    def window(self, rows: int) -> range:
        """The agents' indexes on screen: all that fit, and always the focused one, which scrolls into view."""
        n = len(self.views)
        if n <= rows:
            return range(n)
        focused = next((i for i, v in enumerate(self.views) if v.name == self.focused_name), 0)
        start = min(max(focused - rows // 2, 0), n - rows)
        return range(start, start + rows)

    def render(self) -> RenderResult:
        if not self.views:
            return Text("no agents yet", style="dim")
        shown = self.window(max(self.content_size.height, 1))
        n = len(self.views)
        self.border_subtitle = f"{shown.start + 1}-{shown.stop} of {n} · ↑↓" if len(shown) < n else ""
        rows = []
        for i in (index + 1 for index in shown):
            view = self.views[i - 1]
            focused = view.name == self.focused_name
            line = _header(i, view, focused, self)
            line.stylize("reverse" if focused else "", 0, 2)
            line.append("  ")
            line.append_text(usage_text(view.row))
            last = view.tail.last(1)
            if last:
                line.append("  ")
                line.append_text(data(one_line(last[0].text, 120), "dim"))
            rows.append(line)
        return join_lines(rows)
