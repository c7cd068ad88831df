"""Reading a conversation back: what the scripted researcher did, and what it was told.

The scripted researcher keeps no state of its own: everything it decides
follows from the request's messages (its earlier tool calls, their results,
supervisor messages). That is what makes it resume exactly like a model
does, from the transcript alone.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from agents.transcript import blocks

SUPERVISOR_MARK = "[Supervisor message"
_POSTED = re.compile(r"posted #(\d+)")
_PGR = re.compile(r"PGR (-?\d+\.\d+)(?: \[95% CI (-?\d+\.\d+), (-?\d+\.\d+)\])?")


@dataclass(frozen=True)
class Exchange:
    """One tool call of the researcher and the result it got."""

    call_id: str
    tool: str
    input: dict[str, Any]
    output: str
    is_error: bool

    @property
    def posted_id(self) -> int | None:
        match = _POSTED.search(self.output)
        return int(match.group(1)) if match else None

    @property
    def title(self) -> str:
        return str(self.input.get("title", ""))


@dataclass(frozen=True)
class Conversation:
    exchanges: list[Exchange]
    supervisor: list[str]
    """Supervisor messages, oldest first."""
    unanswered_supervisor: list[str]
    """Supervisor messages that arrived after the researcher's last call."""
    turns: int
    """Assistant messages so far."""


def read(messages: list[dict[str, Any]]) -> Conversation:
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    order: list[str] = []
    results: dict[str, tuple[str, bool]] = {}
    supervisor: list[str] = []
    fresh: list[str] = []
    turns = 0
    for message in messages:
        if message["role"] == "assistant":
            turns += 1
            fresh = []
            for block in blocks(message["content"]):
                if block.get("type") == "tool_use":
                    calls[block["id"]] = (block["name"], dict(block.get("input") or {}))
                    order.append(block["id"])
            continue
        for block in blocks(message["content"]):
            if block.get("type") == "tool_result":
                results[block["tool_use_id"]] = (_text(block.get("content")), bool(block.get("is_error")))
            elif block.get("type") == "text" and SUPERVISOR_MARK in block.get("text", ""):
                text = block["text"].split("]", 1)[-1].strip()
                supervisor.append(text)
                fresh.append(text)
    exchanges = [Exchange(cid, calls[cid][0], calls[cid][1], *results.get(cid, ("", True))) for cid in order]
    return Conversation(exchanges, supervisor, fresh, turns)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


def claims_in(forum_text: str) -> list[tuple[str, str]]:
    """(author, idea key) of every claim post in a ``forum_read`` listing (one JSON object per post and line;
    a line cut by the output limit is skipped)."""
    out = []
    for line in forum_text.splitlines():
        with contextlib.suppress(ValueError):
            post = json.loads(line)
            title = post.get("title") if isinstance(post, dict) else None
            if isinstance(title, str) and title.startswith("Claim:") and "author" in post:
                out.append((str(post["author"]), title.removeprefix("Claim:").strip()))
    return out


def pgr_in(text: str) -> tuple[float, float | None, float | None] | None:
    """The first PGR (with its interval) an evaluator message reports."""
    match = _PGR.search(text)
    if not match:
        return None
    low, high = match.group(2), match.group(3)
    return float(match.group(1)), float(low) if low else None, float(high) if high else None
