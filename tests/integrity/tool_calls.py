"""Calling an agent's real tools against a real store, without a model: what the attack tests drive."""

from __future__ import annotations

from typing import TypedDict

from aar.config import RunConfig
from aar.store import RunStore
from agents.agent_state import AgentControl
from agents.tools import ToolResult, default_toolbox
from agents.tools.base import CallContext


async def call_tool(
    store: RunStore,
    cfg: RunConfig,
    agent: str,
    name: str,
    *,
    control: AgentControl | None = None,
    call_id: str | None = None,
    **args: object,
) -> ToolResult:
    """``agent`` calls tool ``name`` through the toolbox (validation included); the forum, leaderboard and
    ask tools never touch the sandbox. Calls of one model turn share one ``control``."""
    call = CallContext(
        agent=agent,
        step=1,
        call_id=call_id or f"{agent}-{name}",
        store=store,
        config=cfg,
        sandbox=None,  # type: ignore[arg-type]  # the tools called here never touch the sandbox
        control=control or AgentControl(agent),
    )
    return await default_toolbox().call(name, args, call)


class Hidden(TypedDict):
    """The evaluator's full-precision numbers of one scored method, as ``scored`` takes them."""

    pgr: float
    low: float
    high: float
    accs: tuple[float, float, float]


async def scored(
    store: RunStore, agent: str, *, pgr: float, low: float, high: float, accs: tuple[float, float, float], label: str
) -> int:
    """A scored method submission of ``agent`` with the evaluator's full-precision numbers."""
    sub = await store.add_submission(agent, "method", {"filename": "m.py", "source": "x"}, label=label)
    job = await store.enqueue_job("method", {}, submission_id=sub)
    metrics = dict(zip(("acc_weak", "acc_transfer", "acc_ceiling"), accs, strict=True))
    await store.add_result(job, submission_id=sub, split="seeds", pgr=pgr, ci_low=low, ci_high=high, metrics=metrics)
    await store.update_submission(sub, status="scored")
    return sub
