"""What a monitor rule sees and what it reports.

A rule reads events (``Seen``) of the kinds it names and returns ``Finding``s;
the runner (``agents.monitors.runner``) turns each finding into a
``monitor.decision`` event and the command its ``[[monitors]]`` entry asks
for. Rules keep only small in-memory state (counters, the last call of each
agent), rebuilt on resume by replaying the log through them with ``replay``
set, when they must not act or do slow work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from aar.clock import SYSTEM_CLOCK, Clock
from aar.config import MonitorAction, MonitorConfig, RunConfig
from aar.events import EventPayload
from aar.store import RunStore

EVIDENCE_CHARS = 500
"""Evidence (a command, a source line, a post) is cut to this in a decision."""


class RuleOptions(BaseModel):
    """A rule's settings, its ``[[monitors]]`` entry's ``options`` table; a rule with none refuses every key."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdOptions(RuleOptions):
    """A rule that fires at a count (or a duration); each such rule sets its own default and says what it counts."""

    threshold: Annotated[float, Field(gt=0)] = 1


@dataclass(slots=True)
class Seen:
    """One event as a rule sees it (built for every event a rule hears: slots, not frozen, is the cheap kind)."""

    agent: str | None
    payload: EventPayload
    ts: float


@dataclass(frozen=True)
class Finding:
    """A rule fired: about whom, why, on what evidence."""

    agent: str
    reason: str
    """One line a supervisor reads."""
    evidence: str = ""
    key: str = ""
    """The same key is decided once (one tool call, one post, one submission)."""
    post_id: int | None = None
    submission_id: int | None = None
    action: MonitorAction | None = None
    """Overrides the monitor's ``action`` (an LLM verdict that only flags); None takes it."""


@dataclass
class MonitorEnv:
    """What rules may read: the run's store, config and clock."""

    store: RunStore
    config: RunConfig
    agents: frozenset[str] = field(default_factory=frozenset)
    clock: Clock = SYSTEM_CLOCK
    """The time events are stamped with and idle spells are measured on."""


class Rule(ABC):
    """One ``[[monitors]]`` entry's rule."""

    kinds: ClassVar[frozenset[str]]
    """Event kinds it reads."""
    synchronous: ClassVar[bool] = False
    """A ``SyncRule``: judged as the event is emitted, with no queue and no await (most events need no I/O)."""
    sync_kinds: ClassVar[frozenset[str]] = frozenset()
    """Kinds this rule judges at once through ``see`` although others need I/O (a write_file call, a submission)."""
    Options: ClassVar[type[RuleOptions]] = RuleOptions
    """The model of its ``options`` table, defaults included (``agents.options`` checks a run's before it starts)."""

    def __init__(self, config: MonitorConfig, env: MonitorEnv) -> None:
        self.config = config
        self.env = env
        self.options = self.Options.model_validate(config.options)
        self.limit = self.options.threshold if isinstance(self.options, ThresholdOptions) else 1.0
        """The rule's ``threshold``, read once: some rules run on every event."""

    @abstractmethod
    async def observe(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        """Findings of one event; with ``replay`` only update state (resume) and return nothing slow."""

    def judged_at_once(self, kind: str) -> bool:
        """Whether ``kind`` goes through ``see`` as it is emitted, not through the runner's queue."""
        return self.synchronous or kind in self.sync_kinds

    def see(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        """Findings of one event of a ``sync_kinds`` kind, at once (no store, no model)."""
        return []

    def tick(self, now: float) -> list[Finding]:
        """Findings that come from time passing (idleness); called every few seconds."""
        return []

    async def aclose(self) -> None:
        return None


class SyncRule(Rule):
    """A rule that decides from the event alone (and its own counters): no store, no model."""

    synchronous = True

    @abstractmethod
    def see(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        """Findings of one event, at once."""

    async def observe(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        return self.see(seen, replay=replay)


def cut(text: str, limit: int = EVIDENCE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
