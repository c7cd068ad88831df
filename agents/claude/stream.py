"""Turn the Messages API's raw stream events into one assistant message.

The backend reads the SDK's raw event stream (``messages.create(stream=True)``)
rather than ``messages.stream()`` because the SDK's accumulator raises on a
tool input that is not valid JSON and loses the whole message. Here such an
input is kept, verbatim, under ``INVALID_INPUT_KEY``: the tool_use block stays
a valid API block (its ``input`` is an object), the loop answers it with a
clear tool error, and the transcript shows the model what it sent.

Blocks come out as plain dicts in the API's own shapes, with only the fields
the API accepts back, so the transcript can be sent again byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from agents.backend import Usage

INVALID_INPUT_KEY = "_invalid_json"
"""Key of the tool input that holds a tool call's raw, unparseable JSON text."""


class StreamDropped(Exception):
    """The event stream ended before ``message_stop``: the message is incomplete and must be requested again."""


class MessageBuilder:
    """Accumulates one streamed assistant message. Feed it every event, in order."""

    def __init__(self) -> None:
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}
        self._usage: dict[str, int] = {}
        self.stop_reason: str | None = None
        self.finished = False
        self.invalid_inputs: list[str] = []
        """Ids of tool calls whose input was not a JSON object."""

    def feed(self, event: Any) -> str:
        """Apply one raw event; return the visible text it adds (often empty)."""
        kind = event.type
        if kind == "message_start":
            self._take_usage(event.message.usage)
        elif kind == "content_block_start":
            self._blocks[event.index] = _start_block(event.content_block)
            if event.content_block.type == "tool_use":
                self._json[event.index] = []
        elif kind == "content_block_delta":
            return self._apply_delta(event.index, event.delta)
        elif kind == "content_block_stop":
            self._close_block(event.index)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            self._take_usage(event.usage)
        elif kind == "message_stop":
            self.finished = True
        return ""

    def _apply_delta(self, index: int, delta: Any) -> str:
        block = self._blocks[index]
        if delta.type == "text_delta":
            text: str = delta.text
            block["text"] += text
            return text
        if delta.type == "input_json_delta":
            self._json[index].append(delta.partial_json)
        elif delta.type == "thinking_delta":
            block["thinking"] += delta.thinking
        elif delta.type == "signature_delta":
            block["signature"] = delta.signature
        return ""

    def _close_block(self, index: int) -> None:
        parts = self._json.pop(index, None)
        if parts is None:
            return
        block = self._blocks[index]
        raw = "".join(parts)
        try:
            value = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            value = {INVALID_INPUT_KEY: raw}
            self.invalid_inputs.append(block["id"])
        block["input"] = value

    def _take_usage(self, usage: Any) -> None:
        """Usage on ``message_delta`` is cumulative, so later values replace earlier ones."""
        for field in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            value = getattr(usage, field, None)
            if value is not None:
                self._usage[field] = value

    @property
    def usage(self) -> Usage:
        u = self._usage
        return Usage(
            input_tokens=u.get("input_tokens", 0),
            output_tokens=u.get("output_tokens", 0),
            cache_write_tokens=u.get("cache_creation_input_tokens", 0),
            cache_read_tokens=u.get("cache_read_input_tokens", 0),
        )

    def content(self) -> list[dict[str, Any]]:
        """The message's blocks in order; empty text blocks (which the API refuses back) are left out."""
        if not self.finished:
            raise StreamDropped("the stream ended before message_stop")
        if self._json:
            raise StreamDropped("the stream ended inside a tool call")
        blocks = [self._blocks[i] for i in sorted(self._blocks)]
        return [b for b in blocks if not (b["type"] == "text" and not b["text"])]


def _start_block(block: Any) -> dict[str, Any]:
    """A block's starting dict, with only the fields the API takes back in a request."""
    kind = block.type
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    whole: dict[str, Any] = block.to_dict()
    return whole
