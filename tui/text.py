"""Turning run data into safe, compact text.

Everything an agent, a sandbox or a forum post produced is *data*: it is
never parsed as markup and its control characters never reach the terminal.
``visible`` rewrites control characters (ANSI escapes included) as literal
``\\x1b``-style text, and every renderable built here is a ``rich.text.Text``
made from plain strings, so ``[bold]`` stays ``[bold]`` on screen.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters, and lone surrogates (undecodable bytes kept by ``surrogateescape``), which no terminal can show."""
MAX_LINE = 1000
"""Characters kept of one line; the store keeps the whole text."""


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\ufffd" if code >= 0xD800 else f"\\x{code:02x}"


def visible(text: str) -> str:
    """``text`` with tabs expanded, CRLF / CR as newlines and every other control character spelled out."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROL.sub(_escape_control, text)


def clip(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = 200) -> str:
    """The text on one line (whitespace runs collapsed), clipped: for titles and summaries.

    Only the head of a long text is looked at (a tool's output can be megabytes, and this runs per event).
    """
    head = text[: limit * 4]
    flat = " ".join(visible(head).split())
    if len(head) < len(text) and len(flat) < limit:
        return flat + "…"
    return clip(flat, limit)


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
