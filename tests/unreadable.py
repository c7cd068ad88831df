"""Event rows no reader can parse, for the tests that write them straight into a real store (``emit_raw``).

Each reader (the TUI, the headless printer, the inbox, the monitors, the report, resume) must skip every one
of them on its own, record once that it did, and go on with the events after them.
"""

from __future__ import annotations

import json

UNKNOWN_KIND = "agent.dream"


def unreadable_rows(kind: str, agent: str | None = "agent-1") -> list[tuple[str | None, str, str]]:
    """``(agent, kind, payload JSON)`` rows: a ``kind`` event missing its fields, an event of a kind no aar
    knows, and a ``kind`` event whose JSON is cut off in the middle of a string (a damaged row)."""
    return [
        (agent, kind, json.dumps({"kind": kind})),
        (agent, UNKNOWN_KIND, json.dumps({"kind": UNKNOWN_KIND, "about": "sheep"})),
        (agent, kind, json.dumps({"kind": kind, "step": 1, "question": "why is the sky"})[:-8]),
    ]


REASONS = ("Field required", f"unknown kind '{UNKNOWN_KIND}'", "not JSON")
"""A word of each row's reason, in the rows' order."""
