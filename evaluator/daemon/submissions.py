"""Checks a submission before anything runs: format, budget, rate, and the flags a supervisor sees.

Pure Python (no torch, no numpy): it runs in the daemon. Every submission
is already recorded by the time it gets here; these checks only decide
whether it is scored, and say why not in one line.

Flags:
    malformed     wrong length, a value that is not 0/1, a method that does not parse
    over_budget   the agent has used its query budget of prediction files, or its method budget
    rate_limited  more submissions in the last minute than ``rate_limit_per_min``
    probe         differs from one of the agent's own earlier files or method outputs in only a few
                  predictions; for a method, only when it behaves like a fixed list (seed-invariant,
                  or it ignores its labels: ``outputs.behaves_like_a_fixed_list``)
    duplicate     identical to one of the agent's own earlier files or method outputs; a method that
                  does not behave like a fixed list is a duplicate only of its own earlier method
                  (its own earlier prediction file is linked to it instead: ``method behind #N``)
    copy of #N    a prediction file within a few predictions of another agent's earlier file or
                  method output #N (``copy_flag``): a relation, not an accusation; either agent may
                  have copied (a competitor can submit, first, the outputs it expects another to
                  submit), so the supervisor reads it beside the two submissions. A method's
                  outputs are the evaluator's run of its code, never a copy: two agents may well
                  submit the same reference method.
    majority      (nearly) every prediction is the same label
    unisolated    the run's sandboxes have no isolation (``sandbox.isolation = "none-allowed"``)

A method is judged by what it outputs as well as by its source: once verified,
each seed's feedback predictions meet the same probe, duplicate and majority
checks as a prediction file (``output_flags``), so a method returning a fixed
list launders nothing.

Probes are judged against the submitter's own earlier outputs only: a
submission by someone else says nothing of what this agent learned from its
scores, and counting it would let one agent frame another.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aar.config import EvaluatorConfig
from aar.store import SubmissionRow
from evaluator.daemon.job_specs import MethodJob, PredictionsJob

MAX_SOURCE_BYTES = 200_000
MAJORITY_SHARE = 0.98
"""A prediction file with at least this share of one label is a majority-label answer."""


@dataclass(frozen=True)
class Output:
    """One earlier 0/1 feedback output of the run: a prediction file, or one seed of a verified method."""

    submission_id: int
    agent: str
    kind: str
    """``predictions`` or ``method``."""
    values: Sequence[int]


def copy_flag(of: Output, flips: int) -> str:
    """The relation recorded on a later submission within a few predictions of ``of`` (another agent's)."""
    return f"copy of #{of.submission_id} ({of.agent}, {flips} flip{'' if flips == 1 else 's'})"


def probe_threshold(n: int) -> int:
    """Differing in at most this many predictions from an earlier file makes a probe."""
    return max(3, n // 100)


@dataclass
class Verdict:
    accepted: bool
    flags: list[str] = field(default_factory=list)
    error: str = ""
    spec: PredictionsJob | MethodJob | None = None
    """The job to enqueue when accepted."""


def check_predictions(payload: dict[str, Any], n_feedback: int) -> tuple[list[int] | None, str]:
    """The predictions as 0/1 ints, or None and a one-line error that says what to fix."""
    preds = payload.get("predictions") if isinstance(payload, dict) else None
    if not isinstance(preds, list):
        return None, f'payload must be {{"predictions": [...]}} with one 0/1 per feedback input ({n_feedback} values)'
    if len(preds) != n_feedback:
        return (
            None,
            f"predictions has {len(preds)} values; the feedback split has {n_feedback} inputs: give one 0/1 per input, in order",
        )
    bad = [i for i, v in enumerate(preds) if isinstance(v, bool) or v not in (0, 1)]
    if bad:
        shown = ", ".join(f"[{i}]={preds[i]!r}" for i in bad[:3])
        return None, f"predictions must be 0 or 1; {len(bad)} values are not (first: {shown})"
    return [int(v) for v in preds], ""


def check_method(payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    source = payload.get("source") if isinstance(payload, dict) else None
    filename = str(payload.get("filename") or "method.py") if isinstance(payload, dict) else "method.py"
    if not isinstance(source, str) or not source.strip():
        return None, 'payload must be {"filename": "method.py", "source": "<python source defining run(ctx)>"}'
    if len(source.encode()) > MAX_SOURCE_BYTES:
        return None, f"method source is {len(source.encode())} bytes; the limit is {MAX_SOURCE_BYTES}"
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return None, f"{filename}:{exc.lineno}: syntax error: {exc.msg}"
    defines_run = any(
        (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "run")
        or (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "run" for t in node.targets))
        or (isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "run" for a in node.names))
        for node in tree.body
    )
    if not defines_run:
        return None, f"{filename} defines no top-level run(ctx); add `def run(ctx): ...` returning predictions"
    return {"filename": filename, "source": source}, ""


def hamming(a: Sequence[int], b: Sequence[int]) -> int:
    return sum(x != y for x, y in zip(a, b, strict=False))


def judge(
    sub: SubmissionRow,
    earlier: list[SubmissionRow],
    config: EvaluatorConfig,
    n_feedback: int,
    earlier_outputs: Sequence[Output] = (),
) -> Verdict:
    """Decide on ``sub`` given every earlier submission of the run (all agents) and the 0/1
    feedback outputs of its earlier verified methods."""
    mine = [s for s in earlier if s.agent == sub.agent]
    recent = [s for s in mine if sub.ts - s.ts < 60.0]
    allowed = max(1, int(config.rate_limit_per_min))
    if len(recent) >= allowed:
        wait = 60.0 - (sub.ts - min(s.ts for s in recent))
        return Verdict(
            False,
            ["rate_limited"],
            f"rate limit: at most {allowed} submissions a minute; try again in {max(wait, 1):.0f}s",
        )
    if sub.kind == "method":
        spec, error = check_method(sub.payload)
        if spec is None:
            return Verdict(False, ["malformed"], error)
        verified = [s for s in mine if s.kind == "method" and s.status != "rejected"]
        if len(verified) >= config.method_budget:
            return Verdict(
                False,
                ["over_budget"],
                f"method budget used: {config.method_budget} methods per agent are verified; "
                "improve on your best one and ask the supervisor for more",
            )
        seeds = list(range(config.seeds))
        return Verdict(True, [], "", MethodJob(submission_id=sub.id, seeds=seeds, **spec))
    if sub.kind != "predictions":
        return Verdict(False, ["malformed"], f"unknown submission kind {sub.kind!r}; use 'predictions' or 'method'")
    preds, error = check_predictions(sub.payload, n_feedback)
    if preds is None:
        return Verdict(False, ["malformed"], error)
    used = [s for s in mine if s.kind == "predictions" and s.status != "rejected"]
    if len(used) >= config.query_budget:
        return Verdict(
            False,
            ["over_budget"],
            f"query budget used: {config.query_budget} prediction files per agent are scored on feedback; submit a method instead",
        )
    flags = output_flags([preds], [*earlier_predictions(earlier, n_feedback), *earlier_outputs], sub)
    return Verdict(True, flags, "", PredictionsJob(predictions=preds, submission_id=sub.id))


def is_majority(outputs: Sequence[Sequence[int]]) -> bool:
    """Whether any of the 0/1 ``outputs`` is (nearly) one class throughout: no method, a constant."""
    return any(max(sum(o), len(o) - sum(o)) / max(1, len(o)) >= MAJORITY_SHARE for o in outputs)


def output_flags(
    outputs: Sequence[Sequence[int]], earlier: Sequence[Output], sub: SubmissionRow, *, fixed_list: bool = True
) -> list[str]:
    """``majority``, ``duplicate``, ``probe`` or ``copy of #N`` for ``sub``'s 0/1 feedback outputs (a file,
    or a method's seeds) against every earlier output of the run.

    ``duplicate`` and ``probe`` only against the agent's own outputs; another agent's earn a ``copy``
    relation (the nearest) when ``sub`` is a prediction file. A method that does not behave like a
    fixed list (``fixed_list`` false: it answers differently per seed and on the canary's labels) is
    no probe however close it comes to earlier outputs, since good methods converge near the ceiling,
    and only a resubmission of the same output by its own earlier method is a ``duplicate``: the
    file it made first is linked to it (``method_links``), not held against it."""
    flags = ["majority"] if is_majority(outputs) else []
    if not outputs:
        return flags
    n = len(outputs[0])
    limit = probe_threshold(n)
    mine = [e for e in earlier if e.agent == sub.agent and len(e.values) == n]
    honest_method = sub.kind == "method" and not fixed_list
    if honest_method:
        mine = [e for e in mine if e.kind == "method"]
    own = [hamming(o, e.values) for o in outputs for e in mine]
    if own and min(own) == 0:
        flags.append("duplicate")
    elif own and min(own) <= limit and not honest_method:
        flags.append("probe")
    if sub.kind == "predictions":
        theirs = [(hamming(o, e.values), e) for o in outputs for e in earlier if e.agent != sub.agent]
        near = [(flips, e) for flips, e in theirs if len(e.values) == n and flips <= limit]
        if near:
            flips, nearest = min(near, key=lambda t: (t[0], t[1].submission_id))
            flags.append(copy_flag(nearest, flips))
    return flags


def method_links(outputs: Sequence[Sequence[int]], earlier: Sequence[Output], sub: SubmissionRow) -> list[str]:
    """``method behind #N`` for each of the author's own earlier prediction files that one of its method's
    seeds reproduces exactly: the agent submitted the method's predictions first, then the method."""
    return [
        f"method behind #{e.submission_id}"
        for e in earlier
        if sub.kind == "method"
        and e.agent == sub.agent
        and e.kind == "predictions"
        and any(len(o) == len(e.values) and hamming(o, e.values) == 0 for o in outputs)
    ]


def earlier_predictions(earlier: list[SubmissionRow], n: int) -> list[Output]:
    """The valid prediction files among ``earlier``."""
    out = []
    for s in earlier:
        if s.kind == "predictions" and "malformed" not in s.flags:
            preds, _ = check_predictions(s.payload, n)
            if preds is not None:
                out.append(Output(s.id, s.agent, s.kind, preds))
    return out
