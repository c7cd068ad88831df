"""The model backend interface the agent loop calls.

Messages and content blocks use the Anthropic Messages API shapes (plain
dicts: ``{"type": "text", ...}``, ``{"type": "tool_use", ...}``,
``{"type": "tool_result", ...}``) because that is what the transcript stores
and what a resumed agent sends again, byte for byte.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from aar.errors import AarError


class ModelCallFailed(AarError):
    """A model call failed for good: a non-retryable error, or retries ran out."""


class ContextOverflow(ModelCallFailed):
    """The request no longer fits the model's context window; compact the transcript and call again.

    Any backend may raise it; the loop answers by compacting, so it lives with the interface, not
    with one backend.
    """


TextCallback = Callable[[str], Awaitable[None]]
"""Called with each chunk of visible text as the model streams it."""


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class ModelRequest(BaseModel):
    """One call to the model: everything it sees."""

    model_config = ConfigDict(frozen=True)

    agent: str
    model: str
    system: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    max_tokens: int = 8192


class ModelResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    content: list[dict[str, Any]]
    """The assistant message's blocks (text and tool_use), as stored in the transcript."""
    stop_reason: Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"] | None
    usage: Usage = Usage()
    cost_usd: float = 0.0


class ModelBackend(Protocol):
    """A source of assistant turns: the Anthropic API or the offline scripted researcher."""

    name: str

    async def respond(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """Produce the next assistant message, streaming its text through ``on_text``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class SupportsCompaction(Protocol):
    """Optional: a backend whose context window can fill (the scripted one's cannot).

    After a step the loop asks ``needs_compaction`` with that step's usage; when
    it says so, the loop calls ``compact`` with the request it would send next and
    replaces the agent's transcript with the messages it returns
    (``store.replace_transcript``), so a resumed agent continues from the compacted one.
    """

    def needs_compaction(self, usage: Usage) -> bool: ...

    async def compact(self, request: ModelRequest) -> list[dict[str, Any]]: ...
