"""``[[notify]]``: where an inbox item reaches the supervisor who is not at the screen."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, model_validator

from aar.config.base import NAME_PATTERN, Section

ItemKindName = Literal[
    "approval", "ask", "monitor", "claim", "flagged", "budget", "eval_failed", "sandbox", "warning", "error"
]
RankName = Literal["blocking", "alert", "notice"]


class NotifyConfig(Section):
    """One way out: a command that reads the items as JSON on stdin, or a URL that gets them as a JSON POST."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)] = "notify"
    """Shown in its events (``notify.sent``, ``notify.failed``)."""
    command: list[str] | None = None
    """argv of a program run with the batch as JSON on stdin (``["notify-send-wrapper"]``); no shell."""
    webhook: AnyHttpUrl | None = None
    """A URL that gets the batch as a JSON POST (an ntfy topic, a Slack incoming webhook)."""
    kinds: list[ItemKindName] = []
    """Only items of these kinds (empty: every kind)."""
    min_rank: RankName = "alert"
    """Only items at least this urgent: ``blocking`` (approvals, questions), ``alert``, or ``notice``."""
    every_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 60.0
    """At most one send per item kind in this many seconds; items that arrive meanwhile go in the next one."""
    timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Tries after a failed send, with a backoff that doubles from one second."""

    @model_validator(mode="after")
    def _one_way_out(self) -> NotifyConfig:
        if (self.command is None) == (self.webhook is None):
            raise ValueError("give exactly one of command (an argv list) or webhook (a URL)")
        if self.command is not None and not self.command:
            raise ValueError("command is an empty list; give the program and its arguments")
        return self
