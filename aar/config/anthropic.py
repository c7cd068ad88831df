"""``[anthropic]``: the Claude backend's endpoint, limits and prices."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aar.config.base import Section


class ModelPrice(Section):
    """List prices in USD per million tokens, for a model the built-in table does not know."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_write: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float, Field(ge=0)]


class AnthropicConfig(Section):
    base_url: str | None = None
    """API base URL; None uses the SDK default (or ANTHROPIC_BASE_URL)."""
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "ANTHROPIC_API_KEY"
    """Name of the environment variable that holds the key (the key itself never goes in a file)."""
    max_tokens: Annotated[int, Field(ge=1, le=128_000)] = 8192
    """Output tokens per model call."""
    context_window: Annotated[int, Field(ge=1000)] = 200_000
    """Tokens the model accepts; the transcript is compacted before it fills."""
    compact_at: Annotated[float, Field(gt=0, lt=1)] = 0.8
    """Fraction of the context window at which the transcript is compacted."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 8
    """Retries on 429 / 529 / dropped streams, with exponential backoff."""
    timeout_s: Annotated[float, Field(gt=0)] = 600.0
    """Timeout of one model call."""
    prices: dict[str, ModelPrice] = {}
    """Extra or overriding prices by model id, e.g. ``[anthropic.prices.claude-x]``; budgets rely on them."""
