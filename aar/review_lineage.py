"""What the review desk shows of one candidate beyond its scores: its source, the same agent's method before
it, the reference method it is closest to, and its lineage (the transcript steps that led to it).

The lineage is read from the author's tool calls up to the submission: each ``write_file`` / ``edit_file``
of the submitted file, each result the evaluator showed the agent (``submit_predictions``,
``submit_method``, ``leaderboard``), and each forum read (``forum_read``, ``forum_search``). Every line
names its step, so the desk can open the transcript there. Pure store reads, plain strings: the agent's
text is carried as it is and escaped where it is shown.
"""

from __future__ import annotations

import difflib
import posixpath
from typing import Any, Literal

from pydantic import BaseModel

from aar.escape import one_line
from aar.events import ToolCalled, ToolReturned
from aar.reference_methods import Closest, closest_reference
from aar.store import SubmissionRow
from aar.store.protocols import StoreReader

WRITES = frozenset({"write_file", "edit_file"})
RESULTS = frozenset({"submit_predictions", "submit_method", "leaderboard"})
READS = frozenset({"forum_read", "forum_search"})
LINEAGE_SHOWN = 200
"""Lineage lines kept (the newest before the submission); the transcript keeps them all."""
PAGE = 500
"""Tool events read per query while walking the author's history back."""
DIFF_CONTEXT = 3
TOOL_KINDS = ("tool.call", "tool.result")
CHOSEN_TOOLS = {"tool.call": ("tool", sorted(WRITES | READS)), "tool.result": ("tool", sorted(RESULTS))}
"""Of the author's tool events, those of tools that can give a lineage line."""
Step = Literal["write", "result", "read"]


class LineageStep(BaseModel):
    """One transcript step that led to a submission."""

    agent: str
    step: int
    event_id: int
    ts: float
    what: Step
    text: str
    """One line, escaped: ``write_file methods/boot.py (42 lines)``."""


class ReviewDetail(BaseModel):
    """The chosen candidate's source, the method before it and its lineage."""

    submission: SubmissionRow
    source: str
    """The method's source; a prediction file's size in words (it has no source)."""
    previous: SubmissionRow | None
    """The same agent's method submitted just before it (what the diff is against)."""
    previous_source: str
    reference: Closest | None
    """The reference method its source is most like (none for a prediction file)."""
    lineage: list[LineageStep]


def method_source(sub: SubmissionRow) -> str:
    if sub.kind == "method" and isinstance(source := sub.payload.get("source"), str):
        return source
    predictions = sub.payload.get("predictions")
    count = len(predictions) if isinstance(predictions, list) else 0
    return f"# a prediction file ({count} predictions): no source to show\n"


async def detail(store: StoreReader, submission: SubmissionRow) -> ReviewDetail:
    methods = await store.submissions(agent=submission.agent, kind="method")
    before = [m for m in methods if m.id < submission.id]
    previous = before[-1] if before else None
    source = method_source(submission)
    return ReviewDetail(
        submission=submission,
        source=source,
        previous=previous,
        previous_source=method_source(previous) if previous else "",
        reference=closest_reference(source) if submission.kind == "method" else None,
        lineage=await lineage(store, submission),
    )


def _same_file(path: object, sub: SubmissionRow) -> bool:
    if not isinstance(path, str) or not path:
        return False
    if sub.label:
        return posixpath.normpath(path) == posixpath.normpath(sub.label)
    return posixpath.basename(path) == sub.payload.get("filename")


async def lineage(store: StoreReader, sub: SubmissionRow) -> list[LineageStep]:
    """The steps of ``sub``'s author up to its submission that wrote its file, showed it the evaluator's
    results, or read the forum; the newest ``LINEAGE_SHOWN``, oldest first. Walked back from the
    submission's own ``submission.created`` event (without one, a store written by hand, from the end, up
    to its time), a page of the tools that can matter at a time (chosen in SQL), so a long history is not
    read to show its last steps."""
    created = await store.events_of(
        ["submission.created"], agent=sub.agent, only={"submission.created": ("submission_id", [sub.id])}
    )
    upto = created[0].id if created else None
    out: list[LineageStep] = []
    while len(out) < LINEAGE_SHOWN:
        rows = await store.events_of(TOOL_KINDS, agent=sub.agent, upto_id=upto, only=CHOSEN_TOOLS, newest=PAGE)
        for row in reversed(rows):
            payload = row.payload
            if not isinstance(payload, ToolCalled | ToolReturned) or (not created and row.ts > sub.ts):
                continue
            if (line := _line(payload, sub)) is not None:
                what, text = line
                out.append(
                    LineageStep(agent=sub.agent, step=payload.step, event_id=row.id, ts=row.ts, what=what, text=text)
                )
        if len(rows) < PAGE:
            break
        upto = rows[0].id - 1
    return out[:LINEAGE_SHOWN][::-1]


def _line(payload: ToolCalled | ToolReturned, sub: SubmissionRow) -> tuple[Step, str] | None:
    if isinstance(payload, ToolReturned):
        return ("result", f"{payload.tool} → {one_line(payload.output, 160)}") if payload.tool in RESULTS else None
    if payload.tool in WRITES and _same_file(payload.input.get("path"), sub):
        return "write", _write_text(payload.tool, payload.input)
    if payload.tool in READS:
        return "read", _read_text(payload.tool, payload.input)
    return None


def _write_text(tool: str, args: dict[str, Any]) -> str:
    path = one_line(str(args.get("path", "")), 80)
    if tool == "write_file":
        content = args.get("content")
        lines = len(content.splitlines()) if isinstance(content, str) else 0
        return f"write_file {path} ({lines} lines)"
    old, new = args.get("old"), args.get("new")
    removed = len(old.splitlines()) if isinstance(old, str) else 0
    added = len(new.splitlines()) if isinstance(new, str) else 0
    return f"edit_file {path} (-{removed} +{added} lines)"


def _read_text(tool: str, args: dict[str, Any]) -> str:
    if tool == "forum_search":
        return f"forum_search {one_line(str(args.get('query', '')), 80)!r}"
    if args.get("thread") is not None:
        return f"forum_read thread #{one_line(str(args['thread']), 20)}"
    return f"forum_read the latest {one_line(str(args.get('limit', 20)), 10)} posts"


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    """The lines of a unified diff from ``old`` to ``new`` (``---``/``+++`` headers, ``@@`` hunks)."""
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm="", n=DIFF_CONTEXT
        )
    )
