"""The Claude backend: the Messages API through the official ``anthropic`` SDK.

One ``AnthropicBackend`` serves every Claude agent of a run (one connection
pool). Each ``respond`` streams one assistant turn: text goes to ``on_text``
as it arrives, the finished message comes back as transcript-ready blocks
with its usage and cost. A turn is returned only once the stream has reached
``message_stop``, so a dropped stream never leaves half a tool call behind:
the attempt is discarded and retried under ``anthropic.max_retries``.

The API key is read from the environment variable named by
``anthropic.api_key_env`` when the backend is built, handed to the SDK
client and nowhere else: not to events, logs, the store or a sandbox.

The loop also calls ``needs_compaction(usage)`` after each step and, when it
says so, ``compact(request)`` for a shorter transcript to carry on with.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, get_args

import anthropic
import httpx2

from aar.config import AnthropicConfig, RunConfig
from aar.events import AgentUsage, LogLevel, RunLog
from aar.store import RunStore
from agents.backend import ModelRequest, ModelResponse, TextCallback, Usage
from agents.claude import compaction
from agents.claude.caching import cached_messages, cached_tools, system_blocks
from agents.claude.errors import ContextOverflow, MissingApiKey, ModelCallFailed
from agents.claude.pricing import PRICES, Price, price_for
from agents.claude.retry import Failure, backoff_s, classify, fatal_error
from agents.claude.stream import MessageBuilder

log = logging.getLogger("aar.agents.anthropic")

SUMMARY_MAX_TOKENS = 8192
"""Output tokens a compaction summary may use."""
DROPPED_NOTE = "[The oldest part of this conversation was dropped to fit the context window.]"


def load_api_key(config: AnthropicConfig, env: Mapping[str, str] = os.environ) -> str:
    """The API key from ``$<api_key_env>``; a one-line ``MissingApiKey`` if it is unset."""
    key = env.get(config.api_key_env, "").strip()
    if not key:
        raise MissingApiKey(
            f"anthropic: ${config.api_key_env} is not set; export your API key in it "
            "(or point anthropic.api_key_env at the variable that holds it)"
        )
    return key


async def _discard(_: str) -> None:
    return None


class AnthropicBackend:
    """``ModelBackend`` for Claude models. Build it with ``from_config`` (checks key and prices up front)."""

    name = "anthropic"

    def __init__(
        self,
        config: AnthropicConfig,
        *,
        api_key: str,
        store: RunStore | None = None,
        models: Iterable[str] = (),
        prices: Mapping[str, Price] = PRICES,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
    ) -> None:
        self._config = config
        self._store = store
        self._prices = prices
        self._backoff = (backoff_base_s, backoff_cap_s)
        for model in models:
            price_for(model, prices)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=config.base_url,
            max_retries=0,
            timeout=httpx2.Timeout(config.timeout_s, connect=min(config.timeout_s, 10.0)),
        )

    @classmethod
    def from_config(
        cls, config: RunConfig, *, store: RunStore | None = None, env: Mapping[str, str] = os.environ, **options: Any
    ) -> AnthropicBackend:
        """The backend for a run: fails fast on a missing key or a model without a price."""
        models = sorted({a.model for a in config.resolved_agents() if a.backend == "anthropic"})
        if config.anthropic.prices and "prices" not in options:
            extra = {model: Price(**p.model_dump()) for model, p in config.anthropic.prices.items()}
            options["prices"] = {**PRICES, **extra}
        return cls(config.anthropic, api_key=load_api_key(config.anthropic, env), store=store, models=models, **options)

    # ------------------------------------------------------------ ModelBackend

    async def respond(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """Stream one assistant turn, retrying transient failures; raise ``ModelCallFailed`` when it cannot."""
        price = price_for(request.model, self._prices)
        params = self._params(request)
        retries = self._config.max_retries
        for attempt in range(retries + 1):
            try:
                builder = await self._attempt(params, on_text)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if not failure.retryable:
                    raise fatal_error(failure, model=request.model, key_env=self._config.api_key_env) from None
                if attempt == retries:
                    raise ModelCallFailed(
                        f"anthropic: {request.agent}: gave up after {attempt + 1} attempts ({failure.reason}); "
                        "try later or raise anthropic.max_retries"
                    ) from None
                await self._wait(request.agent, attempt, failure)
                continue
            if builder.invalid_inputs:
                self._note(
                    request.agent,
                    "warning",
                    f"model sent invalid JSON tool input ({', '.join(builder.invalid_inputs)})",
                )
            usage = builder.usage
            return ModelResponse(
                content=builder.content(),
                stop_reason=_stop_reason(builder.stop_reason),
                usage=usage,
                cost_usd=price.cost(usage),
            )
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._client.close()

    # ------------------------------------------------------------ compaction

    def needs_compaction(self, usage: Usage) -> bool:
        """Whether the call that produced ``usage`` filled ``anthropic.compact_at`` of the context window."""
        return compaction.needs_compaction(usage, self._config)

    async def compact(self, request: ModelRequest) -> list[dict[str, Any]]:
        """A short transcript (one message: the model's own summary) to replace ``request.messages``.

        The summary call's tokens and dollars are added to the agent's counters in the store.
        If even the summary request overflows the window, its oldest half is dropped and it is asked again.
        """
        messages = list(request.messages)
        while True:
            try:
                response = await self.respond(
                    compaction.summary_request(
                        request.model_copy(update={"messages": messages}), max_tokens=SUMMARY_MAX_TOKENS
                    ),
                    _discard,
                )
                break
            except ContextOverflow:
                shorter = _drop_oldest_half(messages)
                if shorter is None:
                    raise
                messages = shorter
        summary = compaction.summary_text(response)
        if not summary:
            raise ModelCallFailed(f"anthropic: {request.agent}: the model returned no summary when asked to compact")
        await self._record_compaction(request, response, len(summary))
        return compaction.compacted_messages(summary)

    async def _record_compaction(self, request: ModelRequest, response: ModelResponse, chars: int) -> None:
        if self._store is None:
            return
        u = response.usage
        await self._store.record_usage(
            request.agent, AgentUsage(purpose="compaction", cost_usd=response.cost_usd, **u.model_dump())
        )
        self._note(
            request.agent,
            "info",
            f"transcript compacted: {len(request.messages)} messages -> a {chars}-character summary "
            f"({u.output_tokens} tokens, ${response.cost_usd:.4f})",
        )

    # ------------------------------------------------------------ internals

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        """The request body (tools, system, messages with cache breakpoints); built once, reused by retries."""
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": cached_messages(request.messages),
        }
        if request.system:
            params["system"] = system_blocks(request.system)
        if request.tools:
            params["tools"] = cached_tools(request.tools)
        return params

    async def _attempt(self, params: dict[str, Any], on_text: TextCallback) -> MessageBuilder:
        builder = MessageBuilder()
        stream = await self._client.messages.create(**params, stream=True)
        async with stream:
            async for event in stream:
                text = builder.feed(event)
                if text:
                    await on_text(text)
        builder.content()  # raises StreamDropped if the stream ended early
        return builder

    async def _wait(self, agent: str, attempt: int, failure: Failure) -> None:
        delay = backoff_s(attempt, failure, base_s=self._backoff[0], cap_s=self._backoff[1])
        self._note(
            agent,
            "warning",
            f"model call failed ({failure.reason}); retry {attempt + 1}/{self._config.max_retries} in {delay:.2f}s",
        )
        await asyncio.sleep(delay)

    def _note(self, agent: str, level: LogLevel, message: str) -> None:
        log.log(logging.getLevelName(level.upper()), "%s: %s", agent, message)
        if self._store is not None:
            self._store.emit(agent, RunLog(level=level, message=f"anthropic: {message}"))


_STOP_REASONS: dict[str, str] = {
    **{r: r for r in get_args(get_args(ModelResponse.model_fields["stop_reason"].annotation)[0])},
    "model_context_window_exceeded": "max_tokens",
}
"""The API's stop reasons in the protocol's terms (a full context window cuts a turn off like max_tokens)."""


def _stop_reason(raw: str | None) -> Any:
    """The protocol's stop reason for ``raw``; None for one this aar does not know."""
    return _STOP_REASONS.get(raw or "")


def _drop_oldest_half(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The newer half of ``messages`` behind a note that the rest was dropped; None if nothing can go.

    The kept part starts at an assistant turn, so no tool result loses the tool call it answers.
    """
    for i in range(max(len(messages) // 2, 1), len(messages)):
        if messages[i]["role"] == "assistant":
            return [{"role": "user", "content": [{"type": "text", "text": DROPPED_NOTE}]}, *messages[i:]]
    return None
