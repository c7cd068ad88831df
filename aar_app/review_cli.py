"""``aar review RUN [--top K] [--json]``: the methods a supervisor should look at before trusting them, with
everything the run knows about each; ``aar review RUN --verdict ID accept|reject|needs-work --note TEXT``
records the supervisor's verdict.

The candidates (``aar.review``, which the TUI's review desk reads too) are the top K verified methods (K is
``transfer.top_k`` unless ``--top``), then every other submission that has a verdict. A verdict may be given
on any submission, a prediction file too: it is an event in the run's log and a forum post from
``supervisor`` that the agents read, written whether a daemon drives the run or not. Everything an agent wrote (labels, posts, flags, notes quoted back) is escaped.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import cast, get_args

from aar.config import load_config
from aar.errors import AarError
from aar.escape import one_line
from aar.events import Verdict
from aar.review import Candidate
from aar.review import candidates as build_candidates
from aar.runtime import RunPaths
from aar.store import RunStore, VerdictRow
from aar_app.inbox_cli import who
from tui.text import throughput_line

VERDICTS: tuple[str, ...] = get_args(Verdict)


def parse_verdict(raw: list[str]) -> tuple[int, Verdict]:
    """``["7", "reject"]`` from ``--verdict ID VERDICT``; a bad id or word is one line."""
    sid, word = raw
    if not (sid.isascii() and sid.isdigit()) or len(sid) > 18:
        raise AarError(f"--verdict takes a submission id, then a verdict: not {one_line(sid, 40)!r}")
    if word not in VERDICTS:
        raise AarError(f"a verdict is one of {', '.join(VERDICTS)}: not {one_line(word, 40)!r}")
    return int(sid), cast("Verdict", word)


async def record(paths: RunPaths, submission_id: int, verdict: Verdict, note: str) -> VerdictRow:
    async with await RunStore.open(paths.db) as store:
        return await store.record_verdict(submission_id, verdict, note, by=who())


async def candidates(paths: RunPaths, top: int) -> list[Candidate]:
    async with await RunStore.open(paths.db) as store:
        return await build_candidates(store, top, throughput=throughput_line)


def render(found: list[Candidate], top: int) -> str:
    """One block per candidate, agent text on one line with its controls spelled out."""
    if not found:
        return f"nothing to review: no verified method yet (top {top}) and no verdict given"
    return "\n\n".join(_block(c) for c in found)


def _block(c: Candidate) -> str:
    where = "top" if c.top else "reviewed"
    lines = [
        f"#{c.submission_id} {one_line(c.agent, 40)} · {one_line(c.label or '-', 80)} · {c.kind}, {c.status} · {where}"
    ]
    score = f"{c.split or 'feedback'} PGR {c.feedback.text()}" if c.feedback else "not scored"
    seeds = f" · seed acc {' '.join(f'{a:.3f}' for a in c.per_seed_accuracy)}" if c.per_seed_accuracy else ""
    final = f" · final PGR {c.final.text()}" if c.final else ""
    lines.append(f"  {score}{seeds}{final}")
    lines += [f"  transfer {one_line(t.text(), 200)}" for t in c.transfers]
    if c.flags:
        lines.append(f"  flags: {one_line(', '.join(c.flags), 300)}")
    if c.canary:
        lines.append("  canary: " + one_line(" · ".join(f"{k} {v}" for k, v in c.canary.items()), 300))
    if c.monitor_decisions:
        lines.append(f"  monitors on {one_line(c.agent, 40)}: {c.monitor_decisions} decision(s), latest:")
        lines += [f"    {line}" for line in c.monitor_latest]
    for claim in c.claims:
        mark = "✓" if claim.verdict == "verified" else "✗"
        lines.append(
            f"  {mark} post #{claim.post_id} by {one_line(claim.author, 40)} "
            f"({one_line(claim.title, 60)}): {one_line(claim.claim, 120)} {claim.verdict}"
        )
    if c.device_s or c.throughput:
        lines.append(f"  device {c.device_s:.1f} s" + (f" · {c.throughput}" if c.throughput else ""))
    lines.append(f"  verdict: {_verdict(c.verdict)}")
    return "\n".join(lines)


def _verdict(v: VerdictRow | None) -> str:
    if v is None:
        return "none yet (aar review RUN --verdict ID accept|reject|needs-work --note TEXT)"
    when = datetime.fromtimestamp(v.ts).strftime("%m-%d %H:%M")
    return f"{v.verdict} by {one_line(v.by, 40)} at {when}" + (f": {one_line(v.note, 300)}" if v.note else "")


def main(paths: RunPaths, *, top: int | None, as_json: bool, verdict: list[str] | None, note: str | None) -> int:
    if verdict is not None:
        sid, word = parse_verdict(verdict)
        got = asyncio.run(record(paths, sid, word, note or ""))
        told = f"forum post #{got.post_id} tells {one_line(got.agent or 'the team', 40)}"
        print(got.model_dump_json(indent=2) if as_json else f"submission #{sid}: {got.verdict} recorded ({told})")
        return 0
    if note is not None:
        raise AarError("--note goes with --verdict ID accept|reject|needs-work")
    k = top if top is not None else load_config(paths.config).transfer.top_k
    if k < 1:
        raise AarError("--top must be at least 1")
    found = asyncio.run(candidates(paths, k))
    print(json.dumps([c.model_dump(mode="json") for c in found], indent=2) if as_json else render(found, k))
    return 0
