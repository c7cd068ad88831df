"""A theme switch reaches agent output: tail lines and statuses are drawn in the theme's colours."""

from __future__ import annotations

import pytest
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.color import Color as TextualColor

from aar.runtime import RunPaths
from tests.tui.helpers import wait_screen
from tui.app import AarApp
from tui.model import Line
from tui.widgets.agent_card import AgentCard


def _colour(app: AarApp, variable: str) -> Color:
    return TextualColor.parse(app.theme_variables[variable]).rich_color


def _drawn(card: AgentCard, kind: str) -> Style | None:
    """The style of the first cell of the card's newest line of ``kind``, as the card draws it now."""
    lines = card.visible_lines(card.content_size.height)
    rows = [y for y, item in enumerate(lines) if isinstance(item, Line) and item.kind == kind]
    return next(iter(card.render_line(rows[-1]))).style if rows else None


@pytest.mark.slow
async def test_switching_the_theme_recolours_agent_output_and_statuses(run: RunPaths) -> None:
    app = AarApp(run.root)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, "agent-1")
        card = app.screen.query(AgentCard).first()
        for theme in ("textual-dark", "nord", "gruvbox"):
            app.theme = theme
            await pilot.pause(0.2)  # the new theme's CSS is applied
            tool = _drawn(card, "tool")
            assert tool is not None and tool.color == _colour(app, "text-primary") and tool.bold, (theme, tool)
            header = card.visible_lines(card.content_size.height)[0]  # "▶ 1 agent-1 THINKING"
            assert isinstance(header, Text) and header.plain.endswith("THINKING")
            assert header.get_style_at_offset(app.console, len(header) - 1).color == _colour(app, "text-success")
