"""Agent text made safe for a terminal: the one escaping every surface uses (TUI, ``aar inbox``, the
headless event line, ``aar report``, ``aar ls``).

Everything an agent, a sandbox or a forum post produced is data. Written raw to
a terminal, its escape sequences act: conceal mode or black on black hides
every later line (the alert about the same agent included), OSC 52 writes the
supervisor's clipboard, a C1 CSI (``\\x9b``) does what ``ESC [`` does, and a
bidi override (``U+202E``) shows a line in another order than it is stored.
``visible`` spells all of these out as literal ``\\x1b`` / ``\\u202e`` text.
"""

from __future__ import annotations

import re

LINE_BREAKERS = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
"""A character-class body: DEL and C1 controls, line and paragraph separators, bidi marks, overrides and
isolates: what breaks, hides or reorders a line besides C0. Every surface that refuses or escapes agent
text builds its class from this one (names in ``aar.confined``, JSON records in ``agents.tools.base``)."""
_CONTROL = re.compile(rf"[\x00-\x08\x0b-\x1f{LINE_BREAKERS}\ud800-\udfff]")
"""C0 and C1 controls (tab and newline aside), line and paragraph separators, bidi marks, overrides and
isolates, and lone surrogates (undecodable bytes kept by ``surrogateescape``), which no terminal can show."""
MAX_LINE = 1000
"""Characters kept of one line; the store keeps the whole text."""


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with tabs expanded, CRLF / CR as newlines and every other control character spelled out."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROL.sub(_escape_control, text)


def clip(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = 200) -> str:
    """The text on one line (whitespace runs collapsed, controls spelled out), clipped: for titles, summaries
    and every line a CLI prints.

    Only the head of a long text is looked at (a tool's output can be megabytes, and this runs per event).
    """
    head = text[: limit * 4]
    flat = " ".join(visible(head).split())
    if len(head) < len(text) and len(flat) < limit:
        return flat + "…"
    return clip(flat, limit)
