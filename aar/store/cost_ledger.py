"""The ledger of what each tool cost, kept by triggers as events commit (``aar.costs`` reads it).

A step's model call reads the results of the tools the previous step called, so its cost goes to those
tools in equal shares (to ``NO_TOOL`` when the previous step called none); spend outside a step
(``agent.usage``: a compaction, a monitor's review) goes to its purpose in brackets. ``tool_costs`` holds a
row per tool call, per tool a step's cost went to, and per usage, written by triggers on ``events`` in the
transaction that commits the event (the spend's events commit with the agent's counters,
``aar.store.agents_table``), so the ledger always sums to the spend. A question over a period sums the ledger
rather than reading and joining every step and tool call of the period (1.4 s for eight hours of nine
agents). Each row is also added to its minute's sums (``tool_costs_minutes``, by a trigger), so a period
reads its first minute's rows and the sums of the minutes after: a night of nine agents is some 13,000
sums, not 170,000 rows. Triggers, not statements from Python: a round trip to the store's thread costs a
step's commit more than the rows do. An event that is not valid JSON writes no row (and never fails its
insert). A store from before the ledger gets its rows from the events it holds (``BACKFILL``).
"""

from __future__ import annotations

import math

NO_TOOL = "(no tool output)"

COLUMNS = "ts, agent, step, tool, calls, usd"


def _charge(steps: str, *, only: str = "") -> str:
    """Rows charging each of ``steps`` (``ts, agent, step, usd``) to the tools of its agent's previous step;
    ``only`` narrows the tools read to one agent's step (a step as it commits: no window over the ledger)."""
    return f"""
SELECT s.ts, s.agent, s.step, COALESCE(t.tool, '{NO_TOOL}'), 0, s.usd * COALESCE(t.calls, 1) / COALESCE(t.total, 1)
  FROM ({steps}) AS s
  LEFT JOIN (SELECT agent, step, tool, calls, SUM(calls) OVER (PARTITION BY agent, step) AS total
               FROM tool_costs WHERE calls > 0 {only}) AS t
    ON t.agent = s.agent AND t.step = s.step - 1"""


BY_TOOL = """
SELECT agent, tool, SUM(calls), SUM(usd) FROM (
    SELECT agent, tool, calls, usd FROM tool_costs WHERE ts >= ?1 AND CAST(ts / 60 AS INTEGER) < ?2
    UNION ALL
    SELECT agent, tool, calls, usd FROM tool_costs_minutes WHERE minute >= ?2
) GROUP BY agent, tool
"""
"""The sums by agent and tool from ``?1`` (a time) on: the rows of its minute from then, the minutes' sums
after (``?2``: the first whole minute, ``first_minute``)."""


def first_minute(since: float) -> int:
    return math.ceil(since / 60)


def _of(kind: str) -> str:
    return f"FROM events AS e WHERE e.kind = '{kind}' AND e.agent IS NOT NULL AND json_valid(e.payload)"


def _step(e: str) -> str:
    return f"json_extract({e}.payload, '$.step')"


def _usage(e: str) -> str:
    return f"""
SELECT {e}.ts, {e}.agent, NULL, '(' || COALESCE(json_extract({e}.payload, '$.purpose'), '?') || ')', 0,
       COALESCE(json_extract({e}.payload, '$.cost_usd'), 0)"""


def _steps(e: str) -> str:
    return f"SELECT {e}.ts AS ts, {e}.agent AS agent, {_step(e)} AS step, COALESCE(json_extract({e}.payload, '$.cost_usd'), 0) AS usd"


def _on(kind: str, rows: str) -> str:
    name = "events_cost_" + kind.replace(".", "_")
    return f"""
CREATE TRIGGER {name} AFTER INSERT ON events
WHEN new.kind = '{kind}' AND new.agent IS NOT NULL AND json_valid(new.payload)
BEGIN INSERT INTO tool_costs ({COLUMNS}) {rows}; END;
"""


TABLE = """
CREATE TABLE tool_costs (
    id    INTEGER PRIMARY KEY,
    ts    REAL NOT NULL,
    agent TEXT NOT NULL,
    step  INTEGER,
    tool  TEXT NOT NULL,
    calls INTEGER NOT NULL,  -- how often the step called it (0 on a row of cost)
    usd   REAL NOT NULL      -- what the step's model call spent reading its output
);
CREATE INDEX tool_costs_ts ON tool_costs (ts);
CREATE INDEX tool_costs_called ON tool_costs (agent, step) WHERE calls > 0;
CREATE TABLE tool_costs_minutes (
    minute INTEGER NOT NULL,  -- CAST(ts / 60 AS INTEGER)
    agent  TEXT NOT NULL,
    tool   TEXT NOT NULL,
    calls  INTEGER NOT NULL,
    usd    REAL NOT NULL,
    PRIMARY KEY (minute, agent, tool)
) WITHOUT ROWID;
CREATE TRIGGER tool_costs_by_minute AFTER INSERT ON tool_costs BEGIN
    INSERT INTO tool_costs_minutes (minute, agent, tool, calls, usd)
    VALUES (CAST(new.ts / 60 AS INTEGER), new.agent, new.tool, new.calls, new.usd)
    ON CONFLICT (minute, agent, tool) DO UPDATE SET calls = calls + excluded.calls, usd = usd + excluded.usd;
END;
""" + "".join(
    (
        _on(
            "tool.call",
            f"SELECT new.ts, new.agent, {_step('new')}, COALESCE(json_extract(new.payload, '$.tool'), '?'), 1, 0",
        ),
        _on("agent.step", _charge(_steps("new"), only=f"AND agent = new.agent AND step = {_step('new')} - 1")),
        _on("agent.usage", _usage("new")),
    )
)
"""The tables, and the triggers that keep them as events commit: a tool call's row, a step's rows charging
its cost, a usage's row; each row added to its minute's sums."""
BACKFILL = f"""
INSERT INTO tool_costs ({COLUMNS})
SELECT MIN(e.ts), e.agent, json_extract(e.payload, '$.step') AS step,
       COALESCE(json_extract(e.payload, '$.tool'), '?') AS tool, COUNT(*), 0
  {_of("tool.call")} GROUP BY e.agent, step, tool;
INSERT INTO tool_costs ({COLUMNS})
{_charge(_steps("e") + " " + _of("agent.step"))};
INSERT INTO tool_costs ({COLUMNS}) {_usage("e")} {_of("agent.usage")};
"""
"""The ledger's rows of every step, tool call and usage the store's events hold, in one pass."""
CREATE = TABLE + BACKFILL
"""The ledger, with the rows of what the store already holds (migration 13 -> 14)."""
