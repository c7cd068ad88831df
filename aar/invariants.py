"""What must hold in a run's store after any sequence of faults: checks that read it and say what is wrong.

Each check opens nothing itself: it reads one read-only ``sqlite3`` connection
to a run's ``run.db`` (``open_read_only``) and returns a ``Checked``: how many
things it looked at and, for each one that breaks the invariant, a line of
evidence (ids, counts, the rows that disagree). ``check_store`` runs them all.
They are meant for a stopped run (``aar stop`` first): a live daemon has
buffered events and jobs in flight that a check would read as lost.

A check that fires on an honest run is a defect of the check; each has a test
that an honest store passes and a crafted violation is caught.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aar.commands import COMMAND_KINDS

EVIDENCE_SHOWN = 10
"""Violations quoted per check; the count says how many there were."""
TERMINAL_SUBMISSIONS = ("scored", "rejected", "failed")
MAX_JOB_ATTEMPTS = 2
"""Attempts after which the worker never claims a job again (``evaluator.daemon.worker.MAX_ATTEMPTS``)."""


@dataclass(frozen=True)
class Checked:
    """One invariant's verdict: how many things it checked and what broke it."""

    name: str
    count: int
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def line(self) -> str:
        """``events_contiguous: 1234 checked, ok`` or ``..., 2 violations``, then the evidence, indented."""
        head = f"{self.name}: {self.count} checked, " + (
            "ok" if self.ok else f"{len(self.violations)} violation{'s' * (len(self.violations) != 1)}"
        )
        shown = [f"  - {v}" for v in self.violations[:EVIDENCE_SHOWN]]
        more = len(self.violations) - EVIDENCE_SHOWN
        return "\n".join([head, *shown, *([f"  - ... and {more} more"] if more > 0 else [])])


Check = Callable[[sqlite3.Connection], Checked]


def open_read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection to ``db`` (rows by column name); the caller closes it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _payloads(conn: sqlite3.Connection, kind: str) -> Iterator[tuple[int, str | None, dict[str, Any]]]:
    """``(id, agent, payload)`` of the readable events of ``kind`` (an unreadable one is another check's)."""
    for row in conn.execute("SELECT id, agent, payload FROM events WHERE kind = ? ORDER BY id", (kind,)):
        payload = _json(row["payload"])
        if isinstance(payload, dict):
            yield row["id"], row["agent"], payload


# ---------------------------------------------------------------- the event log and commands


def events_contiguous(conn: sqlite3.Connection) -> Checked:
    """Event ids run 1..N with no gap and no duplicate (the log is append-only; nothing was lost or rewritten)."""
    ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY rowid")]
    bad: list[str] = []
    seen: set[int] = set()
    expected = 1
    for event_id in ids:
        if event_id in seen:
            bad.append(f"event id {event_id} appears twice")
        elif event_id != expected:
            bad.append(f"event ids jump from {expected - 1} to {event_id}")
        seen.add(event_id)
        expected = event_id + 1
    return Checked("events_contiguous", len(ids), bad)


def commands_applied_once(conn: sqlite3.Connection) -> Checked:
    """Every command issued before the run's stop was applied or rejected, with exactly one ``command.applied``
    event; no event names a command that does not exist."""
    commands = {r["id"]: r for r in conn.execute("SELECT id, kind, status FROM commands ORDER BY id")}
    applied = Counter(p.get("command_id") for _, _, p in _payloads(conn, "command.applied"))
    stops = [cid for cid, r in commands.items() if r["kind"] == "stop_run" and r["status"] == "applied"]
    last_stop = max(stops, default=None)
    bad: list[str] = []
    for cid, row in commands.items():
        n = applied.get(cid, 0)
        if row["status"] == "pending":
            if last_stop is not None and cid < last_stop:
                bad.append(
                    f"command {cid} ({row['kind']}) still pending though the stop after it (#{last_stop}) applied"
                )
            if n:
                bad.append(f"command {cid} ({row['kind']}) is pending but has {n} command.applied event(s)")
        elif n != 1:
            bad.append(f"command {cid} ({row['kind']}) is {row['status']} with {n} command.applied events, not 1")
    for cid in applied:
        if cid not in commands:
            bad.append(f"a command.applied event names command {cid}, which is not in the commands table")
    return Checked("commands_applied_once", len(commands), bad)


# ---------------------------------------------------------------- submissions, jobs and the leaderboard


def submissions_terminal(conn: sqlite3.Connection) -> Checked:
    """Every submission is scored (with a result), rejected or failed (with its reason), or still waits on a
    job in the queue that a resumed run will take (a stopped run does not drain its queue)."""
    jobs: dict[int, list[sqlite3.Row]] = defaultdict(list)
    for j in conn.execute("SELECT id, submission_id, status, attempts FROM eval_jobs WHERE submission_id IS NOT NULL"):
        jobs[j["submission_id"]].append(j)
    scored = {r[0] for r in conn.execute("SELECT DISTINCT submission_id FROM eval_results")}
    subs = conn.execute("SELECT id, agent, status, error FROM submissions ORDER BY id").fetchall()
    bad: list[str] = []
    for s in subs:
        what = f"submission {s['id']} of {s['agent']} ({s['status']})"
        if s["status"] == "scored":
            if s["id"] not in scored:
                bad.append(f"{what} has no result row")
        elif s["status"] in ("rejected", "failed"):
            if not str(s["error"]).strip():
                bad.append(f"{what} gives no reason")
        else:
            waiting = [j for j in jobs[s["id"]] if j["status"] == "queued" and j["attempts"] < MAX_JOB_ATTEMPTS]
            if s["status"] == "running" and not waiting:
                states = ", ".join(f"job {j['id']} {j['status']} after {j['attempts']} attempts" for j in jobs[s["id"]])
                bad.append(f"{what} is not terminal and no job will score it ({states or 'no job'})")
            elif s["status"] not in ("queued", "running"):
                bad.append(f"{what}: unknown status")
    return Checked("submissions_terminal", len(subs), bad)


def leaderboard_matches_results(conn: sqlite3.Connection) -> Checked:
    """The leaderboard (result rows joined to their submissions) holds one row per scored submission and split,
    each from a finished job of that submission: a job re-run after a crash does not list it twice."""
    rows = conn.execute(
        "SELECT r.id, r.job_id, r.submission_id, r.split, s.status AS sub_status, j.status AS job_status,"
        " j.submission_id AS job_sub FROM eval_results r LEFT JOIN submissions s ON s.id = r.submission_id"
        " LEFT JOIN eval_jobs j ON j.id = r.job_id WHERE r.submission_id IS NOT NULL ORDER BY r.id"
    ).fetchall()
    bad: list[str] = []
    per_key = Counter((r["submission_id"], r["split"]) for r in rows)
    for (sub, split), n in per_key.items():
        if n > 1:
            ids = [r["id"] for r in rows if r["submission_id"] == sub and r["split"] == split]
            bad.append(f"submission {sub} is on the {split} leaderboard {n} times (results {ids})")
    for r in rows:
        if r["sub_status"] is None:
            bad.append(f"result {r['id']} names submission {r['submission_id']}, which does not exist")
        elif r["job_status"] != "done" or r["job_sub"] != r["submission_id"]:
            bad.append(
                f"result {r['id']} of submission {r['submission_id']} comes from job {r['job_id']}"
                f" ({r['job_status']}, for submission {r['job_sub']}), not a finished job of it"
            )
    return Checked("leaderboard_matches_results", len(rows), bad)


def jobs_settled(conn: sqlite3.Connection) -> Checked:
    """No job is left ``running`` after the run stopped, and none sits in the queue with its attempts spent
    (the worker never claims it again, so its submission would wait forever)."""
    jobs = conn.execute("SELECT id, kind, status, attempts FROM eval_jobs ORDER BY id").fetchall()
    bad: list[str] = []
    for j in jobs:
        if j["status"] == "running":
            bad.append(f"job {j['id']} ({j['kind']}) is stuck running after the run stopped")
        elif j["status"] == "queued" and j["attempts"] >= MAX_JOB_ATTEMPTS:
            bad.append(f"job {j['id']} ({j['kind']}) is queued after {j['attempts']} attempts: no worker will take it")
        elif j["status"] not in ("queued", "done", "failed"):
            bad.append(f"job {j['id']} ({j['kind']}) has unknown status {j['status']!r}")
    return Checked("jobs_settled", len(jobs), bad)


# ---------------------------------------------------------------- budgets and records derived from the log


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def spend_matches_calls(conn: sqlite3.Connection) -> Checked:
    """Each agent's steps, tokens and dollars in the agents table equal the sum of its ``agent.step`` events
    (one per model call that completed a step) and its ``agent.usage`` events (spend outside a step: a
    compaction, a monitor's review)."""
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    dollars: dict[str, float] = defaultdict(float)
    for kind in ("agent.step", "agent.usage"):
        for _, agent, p in _payloads(conn, kind):
            name = agent or ""
            sums[name]["steps"] += kind == "agent.step"
            sums[name]["input_tokens"] += int(p.get("input_tokens", 0))
            sums[name]["output_tokens"] += int(p.get("output_tokens", 0))
            dollars[name] += float(p.get("cost_usd", 0.0))
    agents = conn.execute("SELECT name, steps, input_tokens, output_tokens, cost_usd FROM agents").fetchall()
    bad: list[str] = []
    for a in agents:
        got = sums.get(a["name"], Counter())
        for column in ("steps", "input_tokens", "output_tokens"):
            if a[column] != got[column]:
                bad.append(
                    f"{a['name']}: {column} {a[column]} in the agents table, {got[column]} in its agent.step/usage events"
                )
        if not _close(a["cost_usd"], dollars.get(a["name"], 0.0)):
            bad.append(
                f"{a['name']}: ${a['cost_usd']:.6f} spent in the agents table, "
                f"${dollars.get(a['name'], 0.0):.6f} in its agent.step/usage events"
            )
    for name in set(sums) - {a["name"] for a in agents}:
        bad.append(f"agent.step events of {name or 'no agent'}, who is not in the agents table")
    return Checked("spend_matches_calls", len(agents), bad)


def budget_changes_once(conn: sqlite3.Connection) -> Checked:
    """Each ``budget`` command applied has its change rows and one ``budget.changed`` event per agent it changed;
    one that is pending or rejected changed nothing."""
    commands = {r["id"]: r["status"] for r in conn.execute("SELECT id, status FROM commands WHERE kind = 'budget'")}
    rows = Counter((r[0], r[1]) for r in conn.execute("SELECT command_id, agent FROM budget_changes"))
    events = Counter((p.get("command_id"), agent) for _, agent, p in _payloads(conn, "budget.changed"))
    bad: list[str] = []
    for cid, status in commands.items():
        mine = {k for k in rows if k[0] == cid}
        if status == "applied" and not mine:
            bad.append(f"budget command {cid} is applied but changed no budget")
        if status != "applied" and mine:
            bad.append(f"budget command {cid} is {status} but has {len(mine)} budget change row(s)")
    for key in rows:
        if key[0] not in commands:
            bad.append(f"budget change of {key[1]} names command {key[0]}, which is not a budget command")
        if events.get(key, 0) != 1:
            bad.append(f"budget command {key[0]} for {key[1]}: {events.get(key, 0)} budget.changed events, not 1")
    for key in events:
        if key not in rows:
            bad.append(f"a budget.changed event for {key[1]} names command {key[0]}, which changed no budget row")
    return Checked("budget_changes_once", len(commands), bad)


_INBOX_COLUMNS = "source_event, agent, kind, rank, summary, call_id, post_id, submission_id, job_id, cleared_event"


def inbox_matches_rebuild(conn: sqlite3.Connection) -> Checked:
    """The inbox table equals the inbox derived again from the whole event log (on a copy of the store).

    It runs the store's own rebuild in an event loop of its own: call it from synchronous code."""
    stored = {tuple(r) for r in conn.execute(f"SELECT {_INBOX_COLUMNS} FROM inbox")}
    with tempfile.TemporaryDirectory(prefix="aar-invariants-") as tmp:
        copy = Path(tmp) / "run.db"
        with sqlite3.connect(copy) as target:
            conn.backup(target)
        target.close()
        asyncio.run(_rebuild(copy))
        with sqlite3.connect(copy) as rebuilt_db:
            rebuilt = {tuple(r) for r in rebuilt_db.execute(f"SELECT {_INBOX_COLUMNS} FROM inbox")}
        rebuilt_db.close()
    bad = [f"inbox item of event {r[0]} ({r[2]}: {r[4]!r}) is not in a rebuild" for r in sorted(stored - rebuilt)]
    bad += [
        f"a rebuild derives an item from event {r[0]} ({r[2]}: {r[4]!r}) the inbox lacks"
        for r in sorted(rebuilt - stored)
    ]
    return Checked("inbox_matches_rebuild", len(stored | rebuilt), bad)


async def _rebuild(db: Path) -> None:
    from aar.store import RunStore

    async with await RunStore.open(db) as store:
        await store.rebuild_inbox()


# ---------------------------------------------------------------- transcripts and the file


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def tool_uses_answered(conn: sqlite3.Connection) -> Checked:
    """Every ``tool_use`` in an agent's live transcript has a ``tool_result`` in the message after it (a resumed
    model call must not meet a call without its answer)."""
    messages: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
    for r in conn.execute(
        "SELECT id, agent, role, content FROM transcripts WHERE role NOT LIKE 'archived:%' ORDER BY id"
    ):
        messages[r["agent"]].append((r["id"], r["role"], _json(r["content"])))
    count = 0
    bad: list[str] = []
    for agent, rows in messages.items():
        for i, (row_id, role, content) in enumerate(rows):
            if role != "assistant":
                continue
            uses = [str(b.get("id")) for b in _blocks(content) if b.get("type") == "tool_use"]
            count += len(uses)
            after = rows[i + 1] if i + 1 < len(rows) else None
            answered = (
                {str(b.get("tool_use_id")) for b in _blocks(after[2]) if b.get("type") == "tool_result"}
                if after is not None and after[1] == "user"
                else set()
            )
            for call in uses:
                if call not in answered:
                    bad.append(f"{agent}: tool_use {call} (transcript row {row_id}) has no tool_result after it")
    return Checked("tool_uses_answered", count, bad)


def store_integrity(conn: sqlite3.Connection) -> Checked:
    """``PRAGMA integrity_check`` says ok, and no stored command names a kind this aar does not know unless it
    was rejected."""
    said = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    bad = [] if said == ["ok"] else [f"integrity_check: {line}" for line in said]
    for r in conn.execute("SELECT id, kind, status FROM commands"):
        if r["kind"] not in COMMAND_KINDS and r["status"] == "applied":
            bad.append(f"command {r['id']} of unknown kind {r['kind']!r} was applied")
    return Checked("store_integrity", 1, bad)


CHECKS: tuple[Check, ...] = (
    events_contiguous,
    commands_applied_once,
    submissions_terminal,
    leaderboard_matches_results,
    jobs_settled,
    spend_matches_calls,
    budget_changes_once,
    inbox_matches_rebuild,
    tool_uses_answered,
    store_integrity,
)
"""Every store invariant, in the order they are printed."""


def check_store(db: Path, checks: tuple[Check, ...] = CHECKS) -> list[Checked]:
    """Run ``checks`` on the stopped run's store at ``db``; a check that raises is a violation of its own."""
    conn = open_read_only(db)
    try:
        out = []
        for check in checks:
            try:
                out.append(check(conn))
            except Exception as exc:  # a check that cannot read the store has found something
                out.append(Checked(check.__name__, 0, [f"the check failed: {type(exc).__name__}: {exc}"]))
        return out
    finally:
        conn.close()
