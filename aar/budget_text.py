"""What the supervisor types for a budget: a change (the TUI's ``$``), or a whole budget (a branch's).

A change: ``+2`` or ``+$2`` adds two dollars; ``-5000 tokens`` takes tokens
away; ``+600s`` adds ten minutes of wall clock; ``from bob`` moves the amount
from another agent, ``from pool`` draws dollars from what the run's cap leaves.
A whole budget: the same amounts, comma-separated, one per resource:
``$2, 50k, 30m`` is two dollars, 50,000 tokens and half an hour.
"""

from __future__ import annotations

import re

from aar.commands import Budget, BudgetResource
from aar.config import BudgetConfig

_ENTRY = re.compile(
    r"^(?P<sign>[+-])?\s*\$?\s*(?P<amount>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>\$|dollars?|usd|tokens?|tok|k|s|secs?|seconds?|m|min|minutes?|h|hours?)?"
    r"(?:\s+from\s+(?P<source>\S+))?$",
    re.IGNORECASE,
)
_UNITS: dict[str, tuple[BudgetResource, float]] = {
    "": ("dollars", 1.0),
    "$": ("dollars", 1.0),
    "dollar": ("dollars", 1.0),
    "dollars": ("dollars", 1.0),
    "usd": ("dollars", 1.0),
    "token": ("tokens", 1.0),
    "tokens": ("tokens", 1.0),
    "tok": ("tokens", 1.0),
    "k": ("tokens", 1000.0),
    "s": ("wall_clock_s", 1.0),
    "sec": ("wall_clock_s", 1.0),
    "secs": ("wall_clock_s", 1.0),
    "second": ("wall_clock_s", 1.0),
    "seconds": ("wall_clock_s", 1.0),
    "m": ("wall_clock_s", 60.0),
    "min": ("wall_clock_s", 60.0),
    "minute": ("wall_clock_s", 60.0),
    "minutes": ("wall_clock_s", 60.0),
    "h": ("wall_clock_s", 3600.0),
    "hour": ("wall_clock_s", 3600.0),
    "hours": ("wall_clock_s", 3600.0),
}
HELP = "e.g. +2 (dollars), -5000 tokens, +10m (wall clock), +1 from bob, +3 from pool"


class BadBudgetEntry(ValueError):
    """Text that does not read as a budget change; the message says what would."""


def parse_budget(text: str) -> Budget:
    """The ``budget`` command for ``text``; raise ``BadBudgetEntry`` in one line."""
    match = _ENTRY.match(text.strip())
    if match is None:
        raise BadBudgetEntry(f"cannot read {text.strip()!r} as a budget change; {HELP}")
    resource, scale = _UNITS[(match["unit"] or "").lower()]
    amount = float(match["amount"]) * scale * (-1 if match["sign"] == "-" else 1)
    if amount == 0:
        raise BadBudgetEntry(f"an amount of 0 changes nothing; {HELP}")
    return Budget(resource=resource, amount=amount, source=match["source"] or "")


WHOLE_HELP = "e.g. $2 (dollars), $2, 50k (and tokens), $2, 50000 tokens, 30m (and wall clock)"


def parse_budget_config(text: str) -> BudgetConfig:
    """The budget ``text`` gives (``$2, 50k, 30m``; empty: no limit of any kind); raise ``BadBudgetEntry`` in
    one line."""
    fields: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _ENTRY.match(part)
        if match is None or match["sign"] or match["source"]:
            raise BadBudgetEntry(f"cannot read {part!r} as an amount of a budget; {WHOLE_HELP}")
        resource, scale = _UNITS[(match["unit"] or "").lower()]
        if resource in fields:
            raise BadBudgetEntry(f"{resource} is given twice in {text.strip()!r}; give each resource once")
        fields[resource] = float(match["amount"]) * scale
    return BudgetConfig(
        dollars=fields.get("dollars", 0.0),
        tokens=int(fields.get("tokens", 0)),
        wall_clock_s=fields.get("wall_clock_s", 0.0),
    )
