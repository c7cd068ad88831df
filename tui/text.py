"""Turning run data into safe, compact text.

Everything an agent, a sandbox or a forum post produced is *data*: it is
never parsed as markup and its control characters never reach the terminal.
``visible`` (``aar.escape``, shared with every CLI surface) rewrites control
characters (ANSI escapes included) as literal ``\\x1b``-style text, and every
renderable built here is a ``rich.text.Text`` made from plain strings, so
``[bold]`` stays ``[bold]`` on screen.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from aar.escape import MAX_LINE, clip, one_line, visible

__all__ = ["MAX_LINE", "clip", "data", "dollars", "one_line", "pgr", "tokens", "visible"]


def data(text: str, style: str | Style = "") -> Text:
    """Agent- or user-produced text as a ``Text`` that is never interpreted."""
    return Text(visible(text), style=style, no_wrap=True, overflow="ellipsis", end="")


def tokens(n: int) -> str:
    """12 -> ``12``, 12_345 -> ``12.3k``, 4_500_000 -> ``4.5M``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def dollars(x: float) -> str:
    return f"${x:.2f}" if x >= 0.995 or x == 0 else f"${x:.3f}"


def pgr(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """PGR with its confidence interval; ``n/a`` when the evaluator could not compute it."""
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"
