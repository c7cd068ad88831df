"""``aar report --format html``: one self-contained page a supervisor can send to colleagues.

The leaderboard, the evaluator's baselines, the progress chart and the timeline (inline SVG), the agents,
the flags and the flagged submissions, the supervisor's verdicts and the final scores. Styles are inline;
the page loads nothing, from the network or anywhere else (its Content-Security-Policy forbids it too),
so it opens the same offline, attached to a mail. Every text an agent wrote is one line with its controls
spelled out, then HTML-escaped (``report_svg.esc``).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from typing import Any

from aar.describe import pgr
from aar.store import ReferenceRow
from aar_app.report import BRANCH_HEADERS, LeaderboardEntry, Report, branch_rows, flag_name
from aar_app.report_svg import esc

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Nothing but the page's own styles and inline images: no script, font, frame or request of any kind."""
STYLE = """
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #666; }
.flag { color: #a02818; font-weight: bold; }
.figure { overflow-x: auto; margin: 0.5em 0; }
"""


def render_html(report: Report, *, chart: str, timeline: str, timeline_note: str = "") -> str:
    """The page; ``chart`` and ``timeline``: SVG documents made here (``report_svg``, ``report_timeline``)."""
    run = esc(report.run, 120)
    team = report.progress.team
    best = "no verified method counts yet" if team.best_pgr is None else f"best verified PGR {team.best_pgr:.3f}"
    headline = f"{best} after {team.hours:.1f} agent-hours and ${team.usd:.2f}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>aar report: {run}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Run {run}</h1>",
        f"<p>State <b>{esc(report.state)}</b>, spend ${report.spend_usd:.2f}, {report.events} events,"
        f" {report.forum_posts} forum posts, {report.submissions} submissions. <b>{headline}</b>.</p>",
        f'<p class="muted">Written by aar report at {html.escape(time.strftime("%Y-%m-%d %H:%M %Z"))}. Every PGR'
        " is the evaluator's, never an agent's own claim.</p>",
        '<h2 id="progress">Progress</h2>',
        f'<div class="figure" id="chart">{chart}</div>',
        '<h2 id="timeline">Timeline</h2>',
        *([f'<p class="muted">{html.escape(timeline_note)}</p>'] if timeline_note else []),
        f'<div class="figure">{timeline}</div>',
        '<h2 id="leaderboard">Leaderboard</h2>',
    ]
    board = [
        [
            i + 1,
            e.agent,
            " · ".join([str(e.submission_id), *e.links]),
            e.label or "-",
            e.kind,
            e.split,
            _pgr(e),
            _flags(e.flags),
        ]
        for i, e in enumerate(report.leaderboard)
    ]
    headers = ["#", "agent", "submission", "file", "kind", "split", "PGR [95% CI]", "flags"]
    parts.append(_table(headers, board, raw={7}) if board else "<p>No scored submission yet.</p>")
    if report.references:
        parts.append("<p>Baselines the evaluator scored itself:</p>")
        parts.append(
            _table(["baseline", "split", "PGR [95% CI]"], [[r.label, r.split, _pgr(r)] for r in report.references])
        )
    parts += _agents(report)
    parts += _flag_sections(report)
    parts += _review_sections(report)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _agents(report: Report) -> list[str]:
    rows = [
        [
            f"{a.name} (⑂ {a.lineage})" if a.lineage else a.name,
            a.model,
            a.status,
            a.steps,
            f"{a.input_tokens}/{a.output_tokens}",
            f"${a.cost_usd:.2f}",
            a.submissions,
            a.forum_posts,
            "-" if a.best_pgr is None else f"{a.best_pgr:.3f}",
        ]
        for a in report.agents
    ]
    headers = ["agent", "model", "status", "steps", "tokens in/out", "cost", "submissions", "posts", "best PGR"]
    out = ['<h2 id="agents">Agents</h2>', _table(headers, rows) if rows else "<p>No agent yet.</p>"]
    if report.branches:
        out += ['<h2 id="branches">Branches</h2>', _table(BRANCH_HEADERS, branch_rows(report.branches))]
    return out


def _flag_sections(report: Report) -> list[str]:
    out = ['<h2 id="flags">Flags</h2>']
    if not report.flags and not report.flagged:
        return [*out, "<p>No submission was rejected or flagged.</p>"]
    names = sorted(report.flags)
    if names:
        per_agent = [
            [agent, *(counts.get(f, 0) for f in names)] for agent, counts in sorted(report.flags_by_agent.items())
        ]
        out.append(_table(["agent", *names], per_agent))
    rows = [
        [f.submission_id, f.agent, f.kind, f.label or "-", f.status, _flags(f.flags), f.reason or "-"]
        for f in report.flagged
    ]
    out.append("<p>Rejected, failed and flagged submissions, oldest first:</p>")
    out.append(_table(["submission", "agent", "kind", "file", "status", "flags", "reason"], rows, raw={5}))
    return out


def _review_sections(report: Report) -> list[str]:
    out: list[str] = []
    if report.reviewed:
        reviewed: list[list[Any]] = [
            [
                e.verdict,
                e.submission_id,
                e.agent,
                e.label or "-",
                e.feedback.text() if e.feedback else "-",
                e.by,
                e.note or "-",
            ]
            for e in report.reviewed
        ]
        out += ['<h2 id="reviewed">Reviewed results</h2>']
        out.append(_table(["verdict", "submission", "agent", "file", "PGR [95% CI]", "by", "note"], reviewed))
    if report.final_table:
        rows: list[list[Any]] = [
            [
                e.agent,
                e.submission_id,
                e.label or "-",
                e.feedback.text() if e.feedback else "-",
                e.final.text() if e.final else "-",
                e.verdict or "-",
                e.warning or "-",
            ]
            for e in report.final_table
        ]
        out += ['<h2 id="final">Final (private split)</h2>']
        out.append(_table(["agent", "submission", "file", "feedback PGR", "final PGR", "verdict", "warning"], rows))
    return out


def _pgr(row: LeaderboardEntry | ReferenceRow) -> str:
    """``0.412 [0.351, 0.470]``, as the markdown report writes it."""
    return pgr(row.pgr, row.ci_low, row.ci_high, ci_digits=3)


def _flags(flags: Sequence[str]) -> str:
    """Flags as escaped HTML, each kind of flag marked (the cell is inserted as it is)."""
    return (
        ", ".join(f'<span class="flag">{esc(flag_name(f), 40)}</span>{esc(f[len(flag_name(f)) :], 120)}' for f in flags)
        or "-"
    )


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: frozenset[int] | set[int] = frozenset()
) -> str:
    """A table; every cell escaped except the columns in ``raw``, already HTML made here."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = str(value) if i in raw else esc(str(value), 300)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
