"""``aar report``: what a run did, from the store alone (leaderboard, costs, flags, agents)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from aar import escape
from aar.costs import ToolCost, cost_by_tool
from aar.describe import pgr
from aar.events import AgentStatus, RunState, Unreadable, Verdict
from aar.progress import Progress, load_progress, supervisor_references
from aar.review import Reviewed, Score, Scores, scores_by_submission
from aar.runs import summarise
from aar.runtime import RunPaths
from aar.store import (
    AgentRow,
    BranchRow,
    BudgetChangeRow,
    LeaderboardRow,
    ReferenceRow,
    RunStore,
    SubmissionRow,
    VerdictRow,
)


class AgentReport(BaseModel):
    name: str
    backend: str
    model: str
    direction: str
    status: AgentStatus
    steps: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    submissions: int
    forum_posts: int
    best_pgr: float | None
    lineage: str = ""
    """A branch's parent and step (``agent-2@35``); empty for an agent of the config."""


class LeaderboardEntry(BaseModel):
    agent: str
    submission_id: int
    kind: str
    label: str
    split: str
    pgr: float | None
    ci_low: float | None
    ci_high: float | None
    flags: list[str]
    links: list[str] = []
    """Relations that are not flags: ``method behind #N`` (the author's own earlier file, which the method made)."""


class DeviceTime(BaseModel):
    """The evaluator's device time spent on one agent's submissions (or on its own baselines)."""

    agent: str
    """The agent, or ``evaluator`` for baselines and jobs of no agent."""
    jobs: int
    """Jobs that took device time."""
    gpu_hours: float
    """Hours on ``cuda`` devices, every attempt counted."""
    cpu_hours: float
    """Hours on CPU devices (``cpu``, ``cpu:N``) standing in for GPUs."""
    devices: list[str]
    """The devices those jobs ran on."""


def device_time(rows: list[dict[str, Any]]) -> list[DeviceTime]:
    """Per-agent totals from the store's per (agent, device) device-seconds."""
    out: dict[str, DeviceTime] = {}
    for row in rows:
        name = row["agent"] or "evaluator"
        entry = out.setdefault(name, DeviceTime(agent=name, jobs=0, gpu_hours=0.0, cpu_hours=0.0, devices=[]))
        entry.jobs += row["jobs"]
        hours = row["seconds"] / 3600
        if str(row["device"]).startswith("cuda"):
            entry.gpu_hours += hours
        else:
            entry.cpu_hours += hours
        entry.devices = sorted({*entry.devices, str(row["device"]) or "?"})
    return list(out.values())


class FlaggedSubmission(BaseModel):
    """A submission the evaluator rejected, failed or flagged, with why."""

    submission_id: int
    """The submission that carries the flags."""
    agent: str
    kind: str
    """``predictions`` or ``method``."""
    label: str
    """The file it came from."""
    status: str
    """``rejected``, ``failed``, ``scored``, or still ``queued`` / ``running``."""
    flags: list[str]
    """The submission's flags and those of its scores (``final`` ones aside)."""
    reason: str
    """The evaluator's one-line reason for a rejection or failure; empty when it was scored."""


class ReviewedEntry(Reviewed):
    """A submission the supervisor gave a verdict on (``aar review --verdict``), with its scores."""

    verdict: Verdict
    """The latest verdict on it; the event log keeps every one."""
    note: str
    by: str


VERDICT_ORDER: dict[str, int] = {"accept": 0, "needs-work": 1, "reject": 2}
"""Accepted results first, then those sent back, then the rejected."""


def reviewed(
    verdicts: dict[int, VerdictRow], submissions: list[SubmissionRow], scores: dict[int, Scores]
) -> list[ReviewedEntry]:
    """Every reviewed submission, accepted first, then needs-work, then rejected; best PGR first within each."""
    subs = {s.id: s for s in submissions}
    out = []
    for sid, v in verdicts.items():
        if sid in subs:
            fields = Reviewed.fields(subs[sid], scores.get(sid, Scores()))
            out.append(ReviewedEntry(**fields, verdict=v.verdict, note=v.note, by=v.by))
    return sorted(out, key=lambda e: (VERDICT_ORDER[e.verdict], -_value(e.feedback), e.submission_id))


def _value(score: Score | None) -> float:
    return float("-inf") if score is None or score.pgr is None else score.pgr


class FinalEntry(Reviewed):
    """A method scored on ``final``, beside its feedback score, its transfer targets and its verdict."""

    verdict: str | None
    warning: str
    """One line where the final PGR falls outside the feedback CI (a sign of overfitting the feedback split)."""


def final_table(
    verdicts: dict[int, VerdictRow], submissions: list[SubmissionRow], scores: dict[int, Scores]
) -> list[FinalEntry]:
    """Every submission scored on ``final``, best final PGR first."""
    out = []
    for sub in submissions:
        found = scores.get(sub.id)
        if found is None or found.final is None:
            continue
        fields = Reviewed.fields(sub, found)
        verdict = verdicts.get(sub.id)
        out.append(
            FinalEntry(
                **fields,
                verdict=verdict.verdict if verdict else None,
                warning=_outside(fields["feedback"], fields["final"]),
            )
        )
    return sorted(out, key=lambda e: (-_value(e.final), e.submission_id))


def _outside(feedback: Score | None, final: Score | None) -> str:
    if feedback is None or final is None or final.pgr is None or feedback.ci_low is None or feedback.ci_high is None:
        return ""
    if feedback.ci_low <= final.pgr <= feedback.ci_high:
        return ""
    return (
        f"final PGR {final.pgr:.3f} falls outside the feedback CI [{feedback.ci_low:.3f}, {feedback.ci_high:.3f}]:"
        " a sign of overfitting the feedback split"
    )


class Report(BaseModel):
    run: str
    state: RunState
    created_ts: float
    spend_usd: float
    agents: list[AgentReport]
    leaderboard: list[LeaderboardEntry]
    final: list[LeaderboardEntry]
    """Scores on the private ``final`` split; empty until ``aar report --final``."""
    references: list[ReferenceRow] = []
    """The evaluator's own baselines (vanilla, unsupervised), newest per split: the lines to beat."""
    flags: dict[str, int]
    """How many submissions carry each flag (probe, majority, over_budget, ...), rejected ones included."""
    flags_by_agent: dict[str, dict[str, int]] = {}
    """The same count, per agent."""
    flagged: list[FlaggedSubmission] = []
    """Every rejected, failed or flagged submission, oldest first."""
    submissions: int
    events: int
    forum_posts: int
    eval_jobs: dict[str, int]
    device_time: list[DeviceTime] = []
    """The evaluator's GPU-hours (and CPU-device hours) per agent."""
    cost_by_tool: list[ToolCost] = []
    """Each agent's spend by tool: a model call is charged to the tools whose output it read (``aar.costs``)."""
    budget_changes: list[BudgetChangeRow] = []
    """The supervisor's budget changes, in the order they applied."""
    unreadable: list[str] = []
    """One line per event this aar could not read (a newer aar's kind, a damaged row), which the report skips."""
    reviewed: list[ReviewedEntry] = []
    """The supervisor's verdicts: accepted submissions first, then needs-work, then rejected."""
    final_table: list[FinalEntry] = []
    """Each method scored on ``final``: feedback and final PGR, transfer targets and verdict side by side."""
    branches: list[BranchRow] = []
    """Agents branched from another's past step: parent, step, the workspace snapshot's step, the guidance and
    the branch's own budget, oldest first."""
    progress: Progress
    """The progress charts' series: the best verified PGR over agent-hours and dollars, for the team and each
    agent, every scored point, and the reference lines (``aar.progress``)."""


def _entry(row: LeaderboardRow) -> LeaderboardEntry:
    return LeaderboardEntry(**row.model_dump(include=set(LeaderboardEntry.model_fields)))


def _agent(row: AgentRow, subs: dict[str, int], posts: dict[str, int], best: dict[str, float]) -> AgentReport:
    fields = row.model_dump(include=set(AgentReport.model_fields))
    return AgentReport(
        **fields, submissions=subs.get(row.name, 0), forum_posts=posts.get(row.name, 0), best_pgr=best.get(row.name)
    )


async def build_report(paths: RunPaths, *, reference_pgr: Sequence[float] | None = None) -> Report:
    """The run's report; ``reference_pgr``: the PGR lines the chart draws (default: ``[report] reference_pgr``)."""
    summary = summarise(paths)
    supervisor = supervisor_references(paths.config) if reference_pgr is None else list(reference_pgr)
    async with await RunStore.open(paths.db) as store:
        agents = await store.agents()
        board = await store.leaderboard(include_final=True)
        references = await store.references(include_final=True)
        submissions = await store.submissions()
        posts = await store.posts(limit=1_000_000)
        jobs = await store.jobs(limit=1_000_000)
        events = await store.event_count()
        used = await store.device_time()
        changes = await store.budget_changes()
        unreadable = await _unreadable(store)
        tool_costs = await cost_by_tool(store)
        verdicts = await store.verdicts()
        scores = scores_by_submission(await store.results(include_transfer=True))
        progress = await load_progress(store, supervisor=supervisor)
        branches = await store.branches()
    subs_by: dict[str, int] = {}
    flags: dict[str, int] = {}
    for sub in submissions:
        subs_by[sub.agent] = subs_by.get(sub.agent, 0) + 1
    posts_by: dict[str, int] = {}
    for post in posts:
        posts_by[post.author] = posts_by.get(post.author, 0) + 1
    best: dict[str, float] = {}
    scored_flags: dict[int, list[str]] = {}
    for row in board:
        if row.split != "final" and row.pgr is not None:
            best[row.agent] = max(best.get(row.agent, row.pgr), row.pgr)
        if row.split != "final":
            scored_flags[row.submission_id] = scored_flags.get(row.submission_id, []) + row.flags
    flagged = _flagged(submissions, scored_flags)
    by_agent: dict[str, dict[str, int]] = {}
    for item in flagged:
        mine = by_agent.setdefault(item.agent, {})
        for flag in dict.fromkeys(flag_name(f) for f in item.flags):
            flags[flag] = flags.get(flag, 0) + 1
            mine[flag] = mine.get(flag, 0) + 1
    job_counts: dict[str, int] = {}
    for job in jobs:
        job_counts[job.status] = job_counts.get(job.status, 0) + 1
    return Report(
        run=summary.run,
        state=summary.state,
        created_ts=summary.created_ts,
        spend_usd=sum(a.cost_usd for a in agents),
        agents=[_agent(a, subs_by, posts_by, best) for a in agents],
        leaderboard=[_entry(r) for r in board if r.split != "final"],
        final=[_entry(r) for r in board if r.split == "final"],
        references=references,
        flags=flags,
        flags_by_agent=by_agent,
        flagged=flagged,
        submissions=len(submissions),
        events=events,
        forum_posts=len(posts),
        eval_jobs=job_counts,
        device_time=device_time(used),
        cost_by_tool=tool_costs,
        budget_changes=changes,
        unreadable=unreadable,
        reviewed=reviewed(verdicts, submissions, scores),
        final_table=final_table(verdicts, submissions, scores),
        progress=progress,
        branches=branches,
    )


UNREADABLE_PAGE = 5000
UNREADABLE_SHOWN = 20
"""Unreadable events the markdown lists one by one; the rest are counted."""


async def _unreadable(store: RunStore) -> list[str]:
    """Every event of the log this aar cannot read, one line each, oldest first."""
    out: list[str] = []
    last = 0
    while rows := await store.events_after(last, limit=UNREADABLE_PAGE):
        out += [row.payload.describe(row.id) for row in rows if isinstance(row.payload, Unreadable)]
        last = rows[-1].id
    return out


def flag_name(flag: str) -> str:
    """The kind of a flag: ``copy of #3 (agent-1, 1 flip)`` counts as ``copy``."""
    return flag.split(" ", 1)[0]


def _flagged(submissions: list[SubmissionRow], scored_flags: dict[int, list[str]]) -> list[FlaggedSubmission]:
    out = []
    for sub in submissions:
        flags = list(dict.fromkeys(sub.flags + scored_flags.get(sub.id, [])))
        if flags or sub.status in ("rejected", "failed"):
            reason = sub.error if sub.status in ("rejected", "failed") else ""
            out.append(
                FlaggedSubmission(
                    submission_id=sub.id,
                    agent=sub.agent,
                    kind=sub.kind,
                    label=sub.label,
                    status=sub.status,
                    flags=flags,
                    reason=reason,
                )
            )
    return out


def _submission(entry: LeaderboardEntry) -> str:
    """The submission's id with its links: ``7 · method behind #3``."""
    return " · ".join([str(entry.submission_id), *entry.links])


def _pgr(entry: LeaderboardEntry | ReferenceRow) -> str:
    """``0.412 [0.351, 0.470]``: a report keeps the interval's third decimal."""
    return pgr(entry.pgr, entry.ci_low, entry.ci_high, ci_digits=3)


def _cell(value: Any) -> str:
    """A table cell: one line, controls spelled out (``aar.escape``), the markup that would break out of the
    cell, start code or HTML, or make a link escaped (an agent names its files and writes why its methods
    fail)."""
    return re.sub(r"([|`\\<>]|(?<=\])\()", r"\\\1", escape.one_line(str(value), 300))


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(report: Report, *, chart: str | None = None) -> str:
    """The report in markdown; ``chart``: where the progress chart's image was written (the link's target)."""
    age_h = (time.time() - report.created_ts) / 3600 if report.created_ts else 0.0
    lines = [
        f"# Run {_cell(report.run)}",
        "",
        f"State **{report.state}**, started {age_h:.1f} h ago, spend ${report.spend_usd:.2f}, "
        f"{report.events} events, {report.forum_posts} forum posts, {report.submissions} submissions.",
        "",
    ]
    lines += [*_progress_section(report.progress, chart), "## Leaderboard", ""]
    board = [
        [i + 1, e.agent, _submission(e), e.label or "-", e.kind, e.split, _pgr(e), ", ".join(e.flags) or "-"]
        for i, e in enumerate(report.leaderboard)
    ]
    headers = ["#", "agent", "submission", "file", "kind", "split", "PGR [95% CI]", "flags"]
    lines += _table(headers, board) if board else ["No scored submission yet."]
    if report.references:
        lines += ["", "Baselines the evaluator scored itself (a submission below the unsupervised one does no better"]
        lines += ["than not using the weak labels):", ""]
        lines += _table(["baseline", "split", "PGR [95% CI]"], [[r.label, r.split, _pgr(r)] for r in report.references])
    if report.final_table:
        lines += ["", "## Final (private split)", ""]
        final = [
            [
                e.agent,
                e.submission_id,
                e.label or "-",
                e.feedback.text() if e.feedback else "-",
                e.final.text() if e.final else "-",
                "; ".join(t.text() for t in e.transfers) or "-",
                e.verdict or "-",
            ]
            for e in report.final_table
        ]
        headers = ["agent", "submission", "file", "feedback PGR", "final PGR", "transfer", "verdict"]
        lines += _table(headers, final)
        lines += [f"\nwarning: #{e.submission_id}: {_cell(e.warning)}" for e in report.final_table if e.warning]
    lines += _reviewed_section(report.reviewed)
    lines += ["", "## Agents", ""]
    agent_name = {a.name: f"{a.name} (⑂ {a.lineage})" if a.lineage else a.name for a in report.agents}
    lines += _table(
        [
            "agent",
            "model",
            "status",
            "steps",
            "tokens in/out",
            "cache read/write",
            "cost",
            "submissions",
            "posts",
            "best PGR",
        ],
        [
            [
                agent_name[a.name],
                a.model,
                a.status,
                a.steps,
                f"{a.input_tokens}/{a.output_tokens}",
                f"{a.cache_read_tokens}/{a.cache_write_tokens}",
                f"${a.cost_usd:.2f}",
                a.submissions,
                a.forum_posts,
                "-" if a.best_pgr is None else f"{a.best_pgr:.3f}",
            ]
            for a in report.agents
        ],
    )
    lines += _branches_section(report.branches)
    if report.flags:
        lines += ["", "## Flags", ""] + [f"- {flag}: {n}" for flag, n in sorted(report.flags.items())]
        names = sorted(report.flags)
        per_agent = [
            [agent, *(counts.get(f, 0) for f in names)] for agent, counts in sorted(report.flags_by_agent.items())
        ]
        lines += ["", *_table(["agent", *names], per_agent)]
    if report.flagged:
        lines += ["", "## Rejected and flagged submissions", ""]
        rows = [
            [
                f.submission_id,
                f.agent,
                f.kind,
                f.label or "-",
                f.status,
                ", ".join(f.flags) or "-",
                f.reason.replace("\n", " ") or "-",
            ]
            for f in report.flagged
        ]
        lines += _table(["submission", "agent", "kind", "file", "status", "flags", "reason"], rows)
    if report.budget_changes:
        lines += ["", "## Budget changes", ""]
        lines += _table(
            ["command", "agent", "budget", "change", "from / to"],
            [[c.command_id, c.agent, c.resource, f"{c.delta:+g}", c.source or "-"] for c in report.budget_changes],
        )
    lines += ["", "## Evaluator", ""] + [f"- {status}: {n}" for status, n in sorted(report.eval_jobs.items())]
    if report.device_time:
        lines += ["", "## Evaluator device time", ""]
        lines += _table(
            ["agent", "jobs", "GPU-hours", "CPU-device hours", "devices"],
            [
                [d.agent, d.jobs, f"{d.gpu_hours:.3f}", f"{d.cpu_hours:.3f}", ", ".join(d.devices)]
                for d in report.device_time
            ],
        )
    if report.cost_by_tool:
        lines += ["", "## Cost by tool", "", "A model call is charged to the tools whose output it read.", ""]
        lines += _table(
            ["agent", "tool", "calls", "cost"],
            [[c.agent, c.tool, c.calls, f"${c.cost_usd:.4f}"] for c in report.cost_by_tool],
        )
    if report.unreadable:
        lines += [
            "",
            "## Unreadable events",
            "",
            f"{len(report.unreadable)} event(s) could not be read and were skipped:",
        ]
        lines += [f"- {_cell(line)}" for line in report.unreadable[:UNREADABLE_SHOWN]]
        if len(report.unreadable) > UNREADABLE_SHOWN:
            lines.append(f"- and {len(report.unreadable) - UNREADABLE_SHOWN} more")
    return "\n".join(lines) + "\n"


def _progress_section(progress: Progress, chart: str | None) -> list[str]:
    """The headline: the best verified PGR against agent-hours and dollars, the image, and each rise."""
    team = progress.team
    best = "no verified method counts yet" if team.best_pgr is None else f"best verified PGR {team.best_pgr:.3f}"
    lines = ["## Progress", "", f"{best} after {team.hours:.1f} agent-hours and ${team.usd:.2f}."]
    if chart:
        lines += ["", f"![Best verified PGR over agent-hours and dollars]({_link(chart)})"]
    if team.steps:
        lines += ["", "Each rise of the team's best verified PGR:", ""]
        rows = [[f"{s.hours:.2f}", f"${s.usd:.2f}", f"{s.pgr:.3f}", s.submission_id, s.agent] for s in team.steps]
        lines += _table(["agent-hours", "dollars", "best PGR", "submission", "agent"], rows)
    refs = ", ".join(f"{r.label} {r.pgr:.2f}" for r in progress.references)
    flags = ", ".join(progress.not_counted_flags)
    lines += [
        "",
        f"Lines: {refs}. A verified method flagged {flags} counts only once the supervisor accepts it; one the"
        " supervisor rejected never counts.",
        "",
    ]
    return lines


def _link(target: str) -> str:
    """A link target markdown keeps whole: in angle brackets, with the brackets themselves escaped."""
    return "<" + target.replace("<", "%3C").replace(">", "%3E") + ">"


def _budget_text(row: BranchRow) -> str:
    parts = [f"${row.dollars:.2f}" if row.dollars else "", f"{row.tokens} tokens" if row.tokens else ""]
    parts.append(f"{row.wall_clock_s / 60:.0f} min" if row.wall_clock_s else "")
    return ", ".join(p for p in parts if p) or "no limit"


BRANCH_HEADERS = ["branch", "parent", "after step", "workspace of step", "budget", "guidance"]


def branch_rows(branches: list[BranchRow]) -> list[list[Any]]:
    """Each branch's lineage (``BRANCH_HEADERS``): parent, step, the workspace it started from, its budget and
    the guidance; the markdown and the HTML reports show the same table."""
    return [
        [b.agent, b.parent, b.step, b.snapshot_step, _budget_text(b), b.guidance.replace("\n", " ")] for b in branches
    ]


def _branches_section(branches: list[BranchRow]) -> list[str]:
    if not branches:
        return []
    return ["", "## Branches", "", *_table(BRANCH_HEADERS, branch_rows(branches))]


def _reviewed_section(entries: list[ReviewedEntry]) -> list[str]:
    """The supervisor's verdicts: the accepted results with their notes, then the rest; the leaderboard above
    stays every score."""
    if not entries:
        return []
    accepted = [e for e in entries if e.verdict == "accept"]
    rest = [e for e in entries if e.verdict != "accept"]
    lines = ["", "## Reviewed results", ""]
    headers = ["submission", "agent", "file", "PGR [95% CI]", "transfer", "by", "note"]

    def row(e: ReviewedEntry) -> list[Any]:
        transfer = "; ".join(t.text() for t in e.transfers) or "-"
        score = e.feedback.text() if e.feedback else "not scored"
        return [e.submission_id, e.agent, e.label or "-", score, transfer, e.by, e.note or "-"]

    lines += ["Accepted by the supervisor:", ""]
    lines += _table(headers, [row(e) for e in accepted]) if accepted else ["None yet."]
    if rest:
        lines += ["", "Not accepted (needs work, then rejected):", ""]
        lines += _table(["verdict", *headers], [[e.verdict, *row(e)] for e in rest])
    return lines
