"""One plain line per event, for ``--headless`` and logs (no markup, no colour, no escape sequence of an
agent's reaching the terminal). An unreadable event gets its line too, saying why, and the next is printed."""

from __future__ import annotations

import time

from aar import escape
from aar.describe import describe
from aar.store import EventRow


def one_line(row: EventRow) -> str:
    """``12:01:02 agent-1    tool.call          calls bash ls``: when, who, what kind, what (``aar.describe``)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(row.ts))
    who = escape.one_line(row.agent or "-", 40)
    kind = escape.one_line(row.kind, 40)
    return f"{stamp} {who:<10} {kind:<18} {describe(row, 'log').text}"
