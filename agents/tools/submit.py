"""``submit_predictions``, ``submit_method``, ``leaderboard`` and ``finish``.

Submissions go through the store, never to the evaluator directly: the tool
records the submission (status ``queued``), then polls it until the
evaluator's service has scored, rejected or failed it, and tells the model
the evaluator's own numbers. A wait that runs out, or is interrupted, says
where the result will appear instead of failing the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import Field, field_validator

from aar.confined import ConfinedError, refuse_unsafe
from aar.store.rows import LeaderboardRow, ResultRow, SubmissionRow
from agents.tools.base import CallContext, Tool, ToolError, ToolInput, ToolResult, read_text

POLL_S = 0.25
MAX_WAIT_S = 1800.0


def coarse(value: float, step: float) -> str:
    """``value`` rounded to a multiple of ``step``, printed with the decimals ``step`` has (0.01: two)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{round(value / step) * step:.{decimals}f}"


def pgr_text(pgr: float | None, low: float | None, high: float | None, step: float = 0.001) -> str:
    """PGR with its interval as an agent sees it: rounded to ``step`` (``evaluator.agent_pgr_precision``),
    so a submission that flips a prediction or two learns nothing from the score."""
    if pgr is None:
        return "no PGR (the ceiling is not above the weak model)"
    interval = f" [95% CI {coarse(low, step)}, {coarse(high, step)}]" if low is not None and high is not None else ""
    return f"PGR {coarse(pgr, step)}{interval}"


def result_text(sub: SubmissionRow, results: list[ResultRow], step: float = 0.001) -> str:
    """What the evaluator said about a submission, in one paragraph, scores rounded to ``step``."""
    if sub.status == "rejected":
        return f"submission #{sub.id} was rejected: {sub.error or 'no reason given'}" + _flags(sub.flags)
    if sub.status == "failed":
        return f"submission #{sub.id} failed in the evaluator: {sub.error or 'no reason given'}" + _flags(sub.flags)
    lines = [f"submission #{sub.id} ({sub.kind}) scored by the evaluator:"]
    for r in results:
        m = r.metrics
        accs = ", ".join(
            f"{k.removeprefix('acc_')} {coarse(m[k], step)}"
            for k in ("acc_weak", "acc_transfer", "acc_ceiling")
            if isinstance(m.get(k), (int, float))
        )
        seeds = f", {m['seeds']} seed(s)" if m.get("seeds") else ""
        lines.append(
            f"- {r.split} split: {pgr_text(r.pgr, r.ci_low, r.ci_high, step)}{seeds}"
            + (f"; accuracy {accs}" if accs else "")
            + _flags(r.flags)
        )
    return "\n".join(lines) + _flags(sub.flags)


def _flags(flags: list[str]) -> str:
    return f" (flags: {', '.join(flags)})" if flags else ""


async def in_flight_twin(call: CallContext, kind: str, payload: dict[str, Any]) -> SubmissionRow | None:
    """The agent's own submission of the same content still waiting for the evaluator, if any.

    A step re-run after the daemon died (``aar resume``) calls the tool again while the first
    submission is still queued: waiting on that one spares the agent's budgets and the evaluator a twin.
    """
    waiting = [
        s for s in await call.store.submissions(agent=call.agent, kind=kind) if s.status in ("queued", "running")
    ]
    return next((s for s in reversed(waiting) if s.payload == payload), None)


async def submit_and_wait(call: CallContext, kind: str, payload: dict[str, Any], *, label: str) -> ToolResult:
    """Record a submission labelled with the file it came from (or find its in-flight twin), and wait for the
    evaluator's verdict."""
    store = call.store
    twin = await in_flight_twin(call, kind, payload)
    if twin is not None:
        sub_id = twin.id
    else:
        sub_id = await store.add_submission(
            call.agent, kind, payload, label=label
        )  # the intake emits submission.created
    deadline = time.monotonic() + min(call.config.evaluator.job_timeout_s * 2, MAX_WAIT_S)
    while time.monotonic() < deadline and not call.control.interrupted.is_set():
        sub = await store.submission(sub_id)
        if sub is not None and sub.status not in ("queued", "running"):
            results = await store.results(submission_id=sub_id)
            step = call.config.evaluator.agent_pgr_precision
            return ToolResult(result_text(sub, results, step), is_error=sub.status != "scored")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.control.interrupted.wait(), POLL_S)
    why = "the wait was interrupted" if call.control.interrupted.is_set() else "the evaluator is still working on it"
    return ToolResult(
        f"submission #{sub_id} recorded; {why}. Its result will be on the leaderboard (tool `leaderboard`) when scored."
    )


def parse_predictions(text: str, path: str) -> list[Any]:
    """A prediction file: a JSON list, ``{"predictions": [...]}``, or one 0/1 per line."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ToolError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, dict) and "predictions" in data:
            data = data["predictions"]
        elif isinstance(data, dict) and "feedback" in data:
            raise ToolError(
                f"{path} looks like run_method output (probabilities); write [int(p > 0.5) for p in preds['feedback']] "
                "to a file and submit that"
            )
        if not isinstance(data, list):
            raise ToolError(f'{path} must hold a JSON list of 0/1, or {{"predictions": [...]}}')
        return data
    values: list[Any] = []
    for n, line in enumerate(stripped.splitlines(), 1):
        if line.strip() not in ("0", "1"):
            raise ToolError(f"{path}:{n}: expected 0 or 1, got {line.strip()[:40]!r}")
        values.append(int(line))
    return values


class PathInput(ToolInput):
    path: Annotated[str, Field(min_length=1)]
    """File path relative to your workspace."""

    @field_validator("path")
    @classmethod
    def _printable(cls, path: str) -> str:
        """A path becomes the submission's label, which every agent and the supervisor read: no control
        character, newline or bidi mark may ride in it."""
        try:
            refuse_unsafe(path)
        except ConfinedError as exc:
            raise ValueError(str(exc)) from None
        return path


class SubmitPredictions(Tool):
    name = "submit_predictions"
    slow = True
    description = (
        "Score a predictions file on the feedback split: one 0/1 per feedback input, in order "
        '(a JSON list, {"predictions": [...]}, or one per line). Counts against your query budget; '
        "waits for the evaluator's PGR."
    )
    Input = PathInput

    async def run(self, args: PathInput, call: CallContext) -> ToolResult:
        predictions = parse_predictions(await read_text(call, args.path), args.path)
        return await submit_and_wait(call, "predictions", {"predictions": predictions}, label=args.path)


class SubmitMethod(Tool):
    name = "submit_method"
    slow = True
    description = (
        "Submit a method file (Python defining run(ctx)). The evaluator re-runs it from scratch over the run's "
        "fixed seeds in a fresh sandbox and reports its PGR with a confidence interval; waits for the result."
    )
    Input = PathInput

    async def run(self, args: PathInput, call: CallContext) -> ToolResult:
        source = await read_text(call, args.path)
        filename = PurePosixPath(args.path).name
        return await submit_and_wait(call, "method", {"filename": filename, "source": source}, label=args.path)


class LeaderboardInput(ToolInput):
    limit: Annotated[int, Field(ge=1, le=200)] = 20
    """How many of the best results to show."""


def leaderboard_records(rows: list[LeaderboardRow], limit: int, step: float = 0.001) -> list[dict[str, Any]]:
    """The leaderboard as records: the evaluator's numbers in fields, the submitter's file name one quoted
    ``label`` string among them (a name with a newline cannot start a row of its own)."""
    if not rows:
        return [{"leaderboard": "empty: nothing has been scored yet"}]
    # Ranked by the rounded score (ties by submission), so the order tells no more than the numbers.
    ranked = sorted(rows, key=lambda r: (r.pgr is None, -round((r.pgr or 0.0) / step), r.submission_id))
    out: list[dict[str, Any]] = [
        {"leaderboard": f"{len(rows)} scored result(s), best PGR first, computed by the evaluator"}
    ]
    for rank, r in enumerate(ranked[:limit], 1):
        record: dict[str, Any] = {
            "rank": rank,
            "agent": r.agent,
            "submission": r.submission_id,
            "kind": r.kind,
            "split": r.split,
            "score": pgr_text(r.pgr, r.ci_low, r.ci_high, step),
            "flags": r.flags,
        }
        if r.label:
            record["label"] = r.label
        out.append(record)
    return out


def format_leaderboard(rows: list[LeaderboardRow], limit: int, step: float = 0.001) -> str:
    return ToolResult.structured(leaderboard_records(rows, limit, step)).output


class Leaderboard(Tool):
    name = "leaderboard"
    description = (
        "The team's evaluated results, best PGR first, with confidence intervals and flags "
        "(scores rounded to the run's agent precision, 0.01 by default)."
    )
    Input = LeaderboardInput

    async def run(self, args: LeaderboardInput, call: CallContext) -> ToolResult:
        rows = await call.store.leaderboard()
        return ToolResult.structured(leaderboard_records(rows, args.limit, call.config.evaluator.agent_pgr_precision))


class FinishInput(ToolInput):
    summary: Annotated[str, Field(min_length=1, max_length=20_000)]
    """What you tried and found (with the evaluator's numbers), for the supervisor and the team."""


class Finish(Tool):
    name = "finish"
    description = "End your work for this run, with a short account of what you found. You take no more steps."
    Input = FinishInput

    async def run(self, args: FinishInput, call: CallContext) -> ToolResult:
        return ToolResult("finished; thank you", finish=True)
