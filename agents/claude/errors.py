"""Errors of the Anthropic backend: one line each, saying what to fix.

They are ``AarError``s, so the CLI and the TUI show them as they are. None of
them ever carries the API key: messages are built from the env var's *name*,
the model id and the API's own error text.
"""

from __future__ import annotations

from aar.errors import AarError
from agents.backend import ContextOverflow, ModelCallFailed

__all__ = ["AnthropicBackendError", "ContextOverflow", "MissingApiKey", "ModelCallFailed", "UnknownModel"]


class AnthropicBackendError(AarError):
    """Base of every error the Anthropic backend raises."""


class MissingApiKey(AnthropicBackendError):
    """The environment variable named by ``anthropic.api_key_env`` is unset or empty."""


class UnknownModel(AnthropicBackendError):
    """No price is known for a model, so its spending could not be counted or capped."""
