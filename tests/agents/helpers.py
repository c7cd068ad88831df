"""Helpers of the agent tests: a run folder with a real store, and a playbook backend.

``Playbook`` is a ``ModelBackend`` at the same seam as the Anthropic and
scripted backends: the loop, tools, sandbox and store it drives are the
real ones. Each agent's turns come from a function of the request it gets,
so a test decides what the "model" does and sees every request it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

from pydantic import BaseModel

from aar.clock import SYSTEM_CLOCK, Clock
from aar.config import RunConfig
from aar.runtime import RunContext, RunPaths
from aar.store import RunStore
from aar.store.rows import EventRow
from agents.backend import ModelBackend, ModelRequest, ModelResponse, TextCallback, Usage

Turn = list[dict[str, Any]] | ModelResponse
Policy = Callable[[ModelRequest], Turn]


def tool(name: str, call_id: str | None = None, /, **args: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id or f"toolu_{name}_{time.monotonic_ns()}", "name": name, "input": args}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def turns_of(request: ModelRequest) -> int:
    return sum(1 for m in request.messages if m["role"] == "assistant")


def last_results(request: ModelRequest) -> list[dict[str, Any]]:
    """The tool_result blocks of the request's last (user) message."""
    content = request.messages[-1]["content"]
    return (
        [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if isinstance(content, list)
        else []
    )


class Playbook:
    """A backend whose turns come from ``policy(request)``; records every request it was sent."""

    name = "playbook"

    def __init__(
        self,
        policy: Policy,
        *,
        usage: Usage | None = None,
        cost_usd: float = 0.0,
        delay_s: float = 0.0,
    ) -> None:
        self.policy = policy
        self.usage = usage or Usage(input_tokens=100, output_tokens=10)
        self.cost_usd = cost_usd
        self.delay_s = delay_s
        self.requests: list[ModelRequest] = []
        self.closed = False

    def of(self, agent: str) -> list[ModelRequest]:
        return [r for r in self.requests if r.agent == agent]

    async def respond(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # a model call takes time: the other agents and the poller run meanwhile
        turn = self.policy(request)
        if isinstance(turn, ModelResponse):
            return turn
        for block in turn:
            if block["type"] == "text":
                for i in range(0, len(block["text"]), 3):
                    await on_text(block["text"][i : i + 3])
        stop: Literal["tool_use", "end_turn"] = "tool_use" if any(b["type"] == "tool_use" for b in turn) else "end_turn"
        return ModelResponse(content=turn, stop_reason=stop, usage=self.usage, cost_usd=self.cost_usd)

    async def aclose(self) -> None:
        self.closed = True


def config(**sections: Any) -> RunConfig:
    """A run config with the local sandbox and one scripted agent unless told otherwise."""
    data: dict[str, Any] = {
        "run": {"name": "t"},
        "team": {"count": 1},
        "sandbox": {"backend": "local", "exec_timeout_s": 60},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return RunConfig.model_validate(data)


@asynccontextmanager
async def run_context(root: Path, cfg: RunConfig, *, clock: Clock = SYSTEM_CLOCK) -> AsyncIterator[RunContext]:
    """A run folder and its real store; the store, the budget guards and the monitors read ``clock``."""
    paths = RunPaths(root / "run-1")
    paths.make()
    for agent in cfg.resolved_agents():
        paths.workspace(agent.name).mkdir(parents=True, exist_ok=True)
    store = await RunStore.open(paths.db, create=True, clock=clock)
    try:
        yield RunContext(paths=paths, config=cfg, store=store, clock=clock)
    finally:
        await store.close()


def factory(backend: ModelBackend) -> Callable[[str, RunConfig, RunStore], ModelBackend]:
    return lambda kind, config, store: backend


P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class Heard(Generic[P]):
    """One stored event of a known payload class: typed access for the tests (``e.payload.call_id``)."""

    id: int
    ts: float
    agent: str | None
    payload: P


@overload
async def events(store: RunStore, kind: None = None, agent: str | None = None) -> list[EventRow]: ...
@overload
async def events(store: RunStore, kind: type[P], agent: str | None = None) -> list[Heard[P]]: ...
async def events(store: RunStore, kind: type[P] | None = None, agent: str | None = None) -> list[Any]:
    """Every committed event (of ``agent``), or those whose payload is a ``kind``, typed."""
    await store.flush()
    rows = await store.events_after(0, limit=1_000_000, agent=agent)
    if kind is None:
        return rows
    return [Heard(r.id, r.ts, r.agent, r.payload) for r in rows if isinstance(r.payload, kind)]
