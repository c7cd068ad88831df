"""The review desk's data: the methods a supervisor should look at before trusting them, with everything the
run knows of each (``aar review``, the TUI's review desk and the report read them from here).

The candidates are the top K verified methods (method submissions with a ``seeds`` result, best feedback PGR
first, ties by the interval's lower end), then every other submission that has a verdict. Scores come from
the evaluator's ``eval_results`` alone: ``seeds`` (a verified method) or ``feedback`` (a prediction file) on
the home task, ``final`` once ``aar report --final`` ran, and ``transfer`` rows (``metrics["target"]`` names
the target, ``metrics["vs_vanilla"]`` the paired difference against vanilla there), the newest of each.
Pure store reads: the CLI, the evaluator's transfer planner and the TUI all build on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel

from aar.describe import describe, pgr
from aar.eval_jobs import JobStats
from aar.store import TRANSFER_SPLIT, PostRow, ResultRow, SubmissionRow, VerdictRow
from aar.store.protocols import StoreReader

CANARY_KEYS = ("canary_agreement", "canary_moved_per_seed", "seed_moved", "ceiling_distance", "ceilings_distance")
"""The metrics the canary and the ceiling check add to a verified method's result (``evaluator.daemon.canary``)."""
MONITOR_SHOWN = 3
"""Monitor decisions about a candidate's author listed one by one (the newest); the rest are counted."""
EVENT_PAGE = 100_000


async def top_methods(store: StoreReader, k: int) -> list[int]:
    """The ``k`` best verified methods by feedback PGR, ties broken by the CI's lower end."""
    board = await store.method_scores("seeds")
    board.sort(key=lambda r: (-r[1], -(r[2] if r[2] is not None else -math.inf), r[0]))
    return list(dict.fromkeys(sid for sid, _, _ in board))[:k]


# ------------------------------------------------------------ scores


class Score(BaseModel):
    """A PGR with its 95% interval (``None``: the evaluator could not compute it)."""

    pgr: float | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def of(cls, row: ResultRow) -> Score:
        return cls(pgr=row.pgr, ci_low=row.ci_low, ci_high=row.ci_high)

    def text(self) -> str:
        """``0.412 [0.351, 0.470]``, or ``n/a``."""
        return pgr(self.pgr, self.ci_low, self.ci_high, ci_digits=3)


class VsVanilla(BaseModel):
    """The paired difference of the method's accuracy and vanilla's on a target, with its 95% interval."""

    diff: float
    ci_low: float
    ci_high: float


class TransferScore(Score):
    """A method re-run on a transfer target."""

    target: str
    vs_vanilla: VsVanilla | None = None
    flags: list[str] = []

    @classmethod
    def from_row(cls, row: ResultRow) -> TransferScore:
        vs = row.metrics.get("vs_vanilla")
        return cls(
            **Score.of(row).model_dump(),
            target=str(row.metrics.get("target", "?")),
            vs_vanilla=VsVanilla.model_validate(vs) if isinstance(vs, dict) else None,
            flags=row.flags,
        )

    def text(self) -> str:
        """``tilted: PGR 0.300 [0.200, 0.400], vs vanilla +0.050 [+0.010, +0.090]``."""
        line = f"{self.target}: PGR {super().text()}"
        if self.vs_vanilla is not None:
            v = self.vs_vanilla
            line += f", vs vanilla {v.diff:+.3f} [{v.ci_low:+.3f}, {v.ci_high:+.3f}]"
        return line


class Scores(BaseModel):
    """The newest result of a submission on each split it was scored on."""

    home: ResultRow | None = None
    """The home task's feedback score: ``seeds`` for a verified method, ``feedback`` for a prediction file."""
    final: ResultRow | None = None
    transfers: dict[str, ResultRow] = {}
    """By target name."""

    def transfer_scores(self) -> list[TransferScore]:
        return [TransferScore.from_row(self.transfers[name]) for name in sorted(self.transfers)]


def scores_by_submission(results: Iterable[ResultRow]) -> dict[int, Scores]:
    """Each submission's newest result per split and per transfer target, from results oldest first (every
    split, transfer included: ``results(include_transfer=True)``)."""
    out: dict[int, Scores] = {}
    for row in results:
        if row.submission_id is None:
            continue
        scores = out.setdefault(row.submission_id, Scores())
        if row.split == TRANSFER_SPLIT:
            scores.transfers[row.target or "?"] = row
        elif row.split == "final":
            scores.final = row
        else:
            scores.home = row
    return out


class Reviewed(BaseModel):
    """A submission as a reviewer reads it: who, what, and its scores (``aar review``, the report, the desk)."""

    submission_id: int
    agent: str
    kind: str
    label: str
    feedback: Score | None
    """Its home-task feedback score: ``seeds`` for a verified method, ``feedback`` for a prediction file."""
    final: Score | None
    transfers: list[TransferScore]

    @staticmethod
    def fields(sub: SubmissionRow, scores: Scores) -> dict[str, Any]:
        """This model's fields for ``sub``, for a subclass to add its own to."""
        return {
            "submission_id": sub.id,
            "agent": sub.agent,
            "kind": sub.kind,
            "label": sub.label,
            "feedback": Score.of(scores.home) if scores.home else None,
            "final": Score.of(scores.final) if scores.final else None,
            "transfers": scores.transfer_scores(),
        }


# ------------------------------------------------------------ candidates


class ClaimLine(BaseModel):
    """A checked number in a forum post that claims the candidate."""

    post_id: int
    author: str
    title: str
    claim: str
    verdict: Literal["verified", "contradicted"]


class Candidate(Reviewed):
    """One submission to review, with what the evaluator, the monitors, the forum and the supervisor said."""

    status: str
    top: bool
    """Among the top K verified methods (else listed for its verdict)."""
    split: str | None
    """The home score's split: ``seeds`` (a verified method) or ``feedback`` (a prediction file)."""
    per_seed_accuracy: list[float]
    flags: list[str]
    """The submission's and its home score's."""
    canary: dict[str, Any]
    monitor_decisions: int
    """How many times a monitor acted on the author."""
    monitor_latest: list[str]
    claims: list[ClaimLine]
    device_s: float
    """Device-seconds of the job that scored it (every attempt)."""
    throughput: str
    verdict: VerdictRow | None


def _no_throughput(stats: JobStats) -> str:
    return ""


async def candidates(
    store: StoreReader, top: int, *, throughput: Callable[[JobStats], str] = _no_throughput
) -> list[Candidate]:
    """The top ``top`` verified methods, then every other submission with a verdict; ``throughput`` words a
    scoring job's stats (the kernel has no opinion on how: ``tui.text.throughput_line``)."""
    best = await top_methods(store, top)
    verdicts = await store.verdicts()
    ids = list(dict.fromkeys([*best, *sorted(verdicts)]))
    scores = scores_by_submission(await store.results(include_transfer=True, submission_ids=ids))
    posts = await store.claiming_posts()
    subs = {s.id: s for s in [await store.submission(i) for i in ids] if s is not None}  # not every payload
    monitors = {a: await _monitor_lines(store, a) for a in {subs[i].agent for i in ids if i in subs}}
    out = []
    for sid in ids:
        if sid not in subs:
            continue
        sub, got = subs[sid], scores.get(sid, Scores())
        job = await store.job(got.home.job_id) if got.home is not None else None
        count, latest = monitors[sub.agent]
        out.append(
            Candidate(
                **Reviewed.fields(sub, got),
                status=sub.status,
                top=sid in best,
                split=got.home.split if got.home else None,
                per_seed_accuracy=_per_seed(got.home.metrics) if got.home else [],
                flags=list(dict.fromkeys(sub.flags + (got.home.flags if got.home else []))),
                canary={k: got.home.metrics[k] for k in CANARY_KEYS if got.home and k in got.home.metrics},
                monitor_decisions=count,
                monitor_latest=latest,
                claims=_claims(sub, posts),
                device_s=job.device_s if job else 0.0,
                throughput=throughput(job.stats) if job else "",
                verdict=verdicts.get(sid),
            )
        )
    return out


def _per_seed(metrics: dict[str, Any]) -> list[float]:
    """Each seed's transfer accuracy (``metrics["per_seed"]`` of a verified method)."""
    seeds = metrics.get("per_seed")
    if not isinstance(seeds, list):
        return []
    return [
        float(s["acc_transfer"])
        for s in seeds
        if isinstance(s, dict) and isinstance(s.get("acc_transfer"), int | float)
    ]


async def _monitor_lines(store: StoreReader, agent: str) -> tuple[int, list[str]]:
    rows = await store.events_after(0, agent=agent, kinds=["monitor.decision"], limit=EVENT_PAGE)
    return len(rows), [describe(r, "log").text for r in rows[-MONITOR_SHOWN:]]


def _claims(sub: SubmissionRow, posts: list[PostRow]) -> list[ClaimLine]:
    """The checked claims of posts that claim ``sub``: a claim the checker traced to it, or any claim of a post
    of its author that names it (``#7``)."""
    names = re.compile(rf"#\s*{sub.id}(?!\d)")
    out = []
    for post in posts:
        named = post.author == sub.agent and names.search(f"{post.title}\n{post.body}") is not None
        out += [
            ClaimLine(post_id=post.id, author=post.author, title=post.title, claim=c.claim, verdict=c.verdict)
            for c in post.claims
            if named or c.submission_id == sub.id
        ]
    return out
