"""``ScriptedBackend``: the researcher policy behind the model-backend interface.

It answers each request the way a model would: it reads the conversation,
streams its reasoning ("thinking") through ``on_text``, and returns an
assistant message with one tool call. Its commands and submissions are real;
only the reasoning is scripted. Pacing (``team.pace_s``) spreads the text
over that many seconds so a demo can be watched. Tokens are counted as
characters / 4 and cost nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from agents.backend import ModelRequest, ModelResponse, TextCallback, Usage
from agents.scripted.attacker import ATTACKER_MODEL, Attacker
from agents.scripted.policy import Researcher, encode_input
from agents.scripted.reading import read

CHUNKS = 6
_DIRECTION = re.compile(r"Your starting direction: (.*)")


class ScriptedBackend:
    name = "scripted"

    def __init__(self, *, pace_s: float = 0.0, misbehaving: frozenset[str] = frozenset()) -> None:
        self.pace_s = pace_s
        self.misbehaving = misbehaving
        """Agents that play the cheat the monitors must catch (``scripted.misbehaving``)."""

    async def respond(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        conv = read(request.messages)
        if request.model == ATTACKER_MODEL:  # the integrity suite's reward hacker
            action = Attacker(request.agent).decide(conv)
        else:
            misbehaving = request.agent in self.misbehaving
            action = Researcher(request.agent, _direction(request), misbehaving=misbehaving).decide(conv)
        await self._stream(action.thinking + "\n", on_text)
        tool_use = {
            "type": "tool_use",
            "id": f"toolu_{request.agent}_{conv.turns + 1:04d}",
            "name": action.tool,
            "input": action.input,
        }
        content: list[dict[str, Any]] = [{"type": "text", "text": action.thinking}, tool_use]
        prompt_chars = len(request.system) + len(json.dumps(request.messages)) + len(json.dumps(request.tools))
        usage = Usage(
            input_tokens=prompt_chars // 4, output_tokens=(len(action.thinking) + len(encode_input(action))) // 4
        )
        return ModelResponse(content=content, stop_reason="tool_use", usage=usage, cost_usd=0.0)

    async def _stream(self, text: str, on_text: TextCallback) -> None:
        size = max(1, -(-len(text) // CHUNKS))
        for start in range(0, len(text), size):
            if self.pace_s:
                await asyncio.sleep(self.pace_s / CHUNKS)
            await on_text(text[start : start + size])

    async def aclose(self) -> None:
        return None


def _direction(request: ModelRequest) -> str:
    """The agent's direction, from its first message (the transcript is all a backend sees)."""
    first = request.messages[0]["content"] if request.messages else ""
    text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first if isinstance(b, dict))
    match = _DIRECTION.search(text)
    return match.group(1).strip() if match else ""
