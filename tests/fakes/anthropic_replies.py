"""What the fake Messages API answers: scripted replies and their SSE events.

A test scripts the server with a queue of replies: a ``Reply`` (an assistant
message streamed as the real API streams it), an ``HttpError`` (429 with
``retry-after``, 529 ``overloaded_error``, 401, 400), a ``StreamError`` (an
``error`` event in the middle of a 200 stream, as the API sends when it
overloads mid-answer) or a ``Drop`` (the connection closed in the middle of a
tool call's JSON). Tool inputs can be given as raw JSON text, valid or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.anthropic_cache import CacheUsage


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any] | None = None
    raw_json: str | None = None
    """Sent instead of ``input`` when set: lets a test send JSON the model got wrong."""
    id: str = ""

    def json_text(self) -> str:
        return self.raw_json if self.raw_json is not None else json.dumps(self.input or {})


Block = Text | ToolUse


@dataclass(frozen=True)
class Usage:
    """Exact usage to report (otherwise the server estimates it from the request)."""

    input_tokens: int
    output_tokens: int
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    stop_reason: str | None = None
    """Default: ``tool_use`` if a block calls a tool, else ``end_turn``."""
    usage: Usage | None = None
    chunk: int = 12
    """Characters per text or JSON delta."""


@dataclass(frozen=True)
class HttpError:
    status: int
    error_type: str
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamError:
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class Drop:
    """Stream ``reply`` but close the connection after the first piece of its first tool call's input."""

    reply: Reply


Scripted = Reply | HttpError | StreamError | Drop


def reply(*blocks: Block | str, **options: Any) -> Reply:
    """A reply; bare strings are text blocks."""
    return Reply(tuple(Text(b) if isinstance(b, str) else b for b in blocks), **options)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fake"}


def reply_events(r: Reply, *, model: str, msg_id: str, tool_ids: list[str], cache: CacheUsage) -> list[bytes]:
    """The SSE events of ``r``, in the API's order; ``tool_ids`` supplies ids for tool calls without one."""
    usage = r.usage or Usage(
        input_tokens=cache.input_tokens,
        output_tokens=max(1, sum(len(b.text if isinstance(b, Text) else b.json_text()) for b in r.blocks) // 4),
        cache_write_tokens=cache.cache_write_tokens,
        cache_read_tokens=cache.cache_read_tokens,
    )
    start_usage = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": 1,
    }
    message: dict[str, object] = {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": start_usage,
    }  # fmt: skip
    out = [sse("message_start", {"type": "message_start", "message": message}), sse("ping", {"type": "ping"})]
    for index, block in enumerate(r.blocks):
        out.extend(_block_events(index, block, r.chunk, tool_ids))
    stop = r.stop_reason or ("tool_use" if any(isinstance(b, ToolUse) for b in r.blocks) else "end_turn")
    delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
             "usage": {"output_tokens": usage.output_tokens}}  # fmt: skip
    out.append(sse("message_delta", delta))
    out.append(sse("message_stop", {"type": "message_stop"}))
    return out


def _block_events(index: int, block: Block, chunk: int, tool_ids: list[str]) -> list[bytes]:
    if isinstance(block, Text):
        start: dict[str, object] = {"type": "text", "text": ""}
        pieces = [block.text[i : i + chunk] for i in range(0, len(block.text), chunk)]
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
    else:
        start = {"type": "tool_use", "id": block.id or tool_ids.pop(0), "name": block.name, "input": {}}
        raw = block.json_text()
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [{"type": "input_json_delta", "partial_json": raw[i : i + chunk]} for i in range(0, len(raw), chunk)]
    events = [sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    events += [sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def cut_inside_tool_input(events: list[bytes]) -> list[bytes]:
    """The events up to the first non-empty piece of tool input: where a ``Drop`` closes the connection."""
    for i, event in enumerate(events):
        if b'"input_json_delta"' in event and b'"partial_json": ""' not in event:
            return events[: i + 1]
    raise ValueError("Drop needs a reply with a tool call that has input")
