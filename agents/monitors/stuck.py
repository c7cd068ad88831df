"""Stuck agents: the same tool call over and over, errors in a row, or no output for a long time.

- ``loops``: the same tool with the same input ``threshold`` times in a row (5);
- ``error_streak``: ``threshold`` tool errors in a row (5);
- ``idle``: no submission and no forum post for ``threshold`` minutes (30) while the agent runs
  (a paused or ended agent is not idle, it is waiting or done).

Each fires once per streak or idle spell, then counts again from zero.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from pydantic import Field

from aar.config import MonitorConfig
from aar.events import AgentStatusChanged, ForumPosted, SubmissionCreated, ToolCalled, ToolReturned
from agents.monitors.base import Finding, MonitorEnv, Seen, SyncRule, ThresholdOptions, cut

_RESTING = frozenset({"paused", "waiting_approval", "finished", "stopped", "out_of_budget", "error"})


class LoopsOptions(ThresholdOptions):
    threshold: Annotated[float, Field(gt=0)] = 5
    """Calls of one tool with the same input in a row."""


class Loops(SyncRule):
    kinds = frozenset({"tool.call"})
    Options = LoopsOptions

    def __init__(self, config: MonitorConfig, env: MonitorEnv) -> None:
        super().__init__(config, env)
        self.last: dict[str, tuple[tuple[str, dict[str, object]], int]] = {}
        """Per agent: the last call (tool and input) and how many times in a row it came."""

    def see(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        call = seen.payload
        if seen.agent is None or not isinstance(call, ToolCalled):
            return []
        signature = (call.tool, call.input)  # compared as values; spelled out only when it fires
        previous, count = self.last.get(seen.agent, (("", {}), 0))
        count = count + 1 if signature == previous else 1
        if count < self.limit:
            self.last[seen.agent] = (signature, count)
            return []
        self.last[seen.agent] = (signature, 0)
        if replay:
            return []
        return [
            Finding(
                seen.agent,
                f"the same {call.tool} call {count} times in a row",
                cut(f"{call.tool} {call.input!r}"),
                key=call.call_id,
            )
        ]


class ErrorStreakOptions(ThresholdOptions):
    threshold: Annotated[float, Field(gt=0)] = 5
    """Tool errors in a row."""


class ErrorStreak(SyncRule):
    kinds = frozenset({"tool.result"})
    Options = ErrorStreakOptions

    def __init__(self, config: MonitorConfig, env: MonitorEnv) -> None:
        super().__init__(config, env)
        self.errors: dict[str, int] = defaultdict(int)

    def see(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        result = seen.payload
        if seen.agent is None or not isinstance(result, ToolReturned):
            return []
        if result.ok:
            self.errors[seen.agent] = 0
            return []
        self.errors[seen.agent] += 1
        count = self.errors[seen.agent]
        if count < self.limit:
            return []
        self.errors[seen.agent] = 0
        if replay:
            return []
        return [
            Finding(
                seen.agent,
                f"{count} tool errors in a row",
                cut(f"{result.tool}: {result.output}"),
                key=result.call_id,
            )
        ]


class IdleOptions(ThresholdOptions):
    threshold: Annotated[float, Field(gt=0)] = 30
    """Minutes with no submission and no post while the agent runs."""


class Idle(SyncRule):
    kinds = frozenset({"agent.status", "forum.post", "submission.created"})
    Options = IdleOptions

    def __init__(self, config: MonitorConfig, env: MonitorEnv) -> None:
        super().__init__(config, env)
        self.since: dict[str, float] = {}
        """Per working agent: when it last posted or submitted (or started, or woke)."""
        self.flagged: set[str] = set()

    def see(self, seen: Seen, *, replay: bool = False) -> list[Finding]:
        agent, event = seen.agent, seen.payload
        if agent is None:
            return []
        if isinstance(event, AgentStatusChanged):
            if event.status in _RESTING:
                self.since.pop(agent, None)
                self.flagged.discard(agent)
            elif agent not in self.since:
                self.since[agent] = seen.ts
        elif isinstance(event, ForumPosted | SubmissionCreated):
            self.since[agent] = seen.ts
            self.flagged.discard(agent)
        return []

    def tick(self, now: float | None = None) -> list[Finding]:
        now = self.env.clock.time() if now is None else now
        limit_s = self.limit * 60
        out = []
        for agent, since in self.since.items():
            if agent not in self.flagged and now - since >= limit_s:
                self.flagged.add(agent)
                minutes = (now - since) / 60
                out.append(
                    Finding(
                        agent,
                        f"no submission and no forum post for {minutes:.0f} minutes",
                        key=f"idle:{agent}:{since}",
                    )
                )
        return out
