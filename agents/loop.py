"""The agent loop: one asyncio task per agent, one step at a time.

A step: build the request from the persisted transcript, call the model
(its text streamed to the store as ``model.text`` events), run the tool
calls it made, then persist the assistant message and the tool results
together with the step's counters in one transaction. Between steps the
loop checks its control state (stop, budgets, pause) and reads any
supervisor message waiting for it.

A step is the unit of resume. Nothing of a step is persisted until it is
whole, and the loop's copy of the messages only grows by what was
committed, so an agent rebuilt from the store (``aar resume``) sends exactly
the request its predecessor would have sent next. A stop that arrives during
a model call drops that call: the same request is sent again on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable, Sequence
from typing import Any

from aar.config import ResolvedAgent
from aar.disk import is_disk_full
from aar.errors import AarError
from aar.events import (
    AgentStatus,
    AgentStatusChanged,
    AgentStepCompleted,
    ApprovalRequested,
    BudgetExceeded,
    ErrorRaised,
    ModelText,
    ToolCalled,
    ToolReturned,
)
from aar.runtime import RunContext
from aar.store.protocols import AgentStore
from agents.agent_state import AgentControl, Redirect
from agents.backend import ContextOverflow, ModelBackend, ModelRequest, ModelResponse, SupportsCompaction, Usage
from agents.budget import BudgetGuard, Overrun
from agents.coalesce import Coalescer
from agents.sandbox_slot import SandboxSlot
from agents.snapshot_keeper import SUBMIT_TOOLS, SnapshotKeeper
from agents.tools import CallContext, Toolbox, ToolResult, for_model
from agents.transcript import merged, start_message

log = logging.getLogger("aar.agents.loop")

CONTINUE_TEXT = "(You called no tool. Go on with your research using the tools, or call `finish` if you are done.)"
CUT_OFF_TEXT = "(Your reply was cut off at the output limit. Go on, in shorter steps.)"
Ending = tuple[AgentStatus, str]
"""(final status, detail)."""


class AgentLoop:
    def __init__(
        self,
        ctx: RunContext,
        agent: ResolvedAgent,
        *,
        backend: ModelBackend,
        toolbox: Toolbox,
        control: AgentControl,
        sandbox: SandboxSlot,
        system: str,
        budget: BudgetGuard,
        max_tokens: int,
        base_step: int = 0,
        snapshots: SnapshotKeeper | None = None,
    ) -> None:
        self.ctx = ctx
        self.store: AgentStore = ctx.store
        self.agent = agent
        self.name = agent.name
        self.backend = backend
        self.toolbox = toolbox
        self.control = control
        self.sandbox = sandbox
        self.system = system
        self.budget = budget
        self.max_tokens = max_tokens
        self.snapshots = snapshots
        self.base_step = base_step
        """A branch's: the parent's step it starts after; its own steps (what ``run.max_steps`` counts) are the
        ones after it."""
        """Snapshots the workspace between steps (a branch starts from one); None: never."""
        self.tools = toolbox.specs()
        self.messages: list[dict[str, Any]] = []
        """The live transcript as committed: exactly what the store holds (archived rows aside)."""
        self.step = 0
        self.delivered: set[int] = set()
        """Commands whose supervisor message the transcript holds (the store's ``deliveries`` rows)."""
        self.status: AgentStatus | None = None
        """The status last announced (event)."""
        self._stored: AgentStatus | None = None
        """The status in the agents row: only what lasts is written there (quick tool calls are not)."""
        self._last_usage: Usage | None = None
        control.bind_sandbox(sandbox.interrupt)

    # ------------------------------------------------------------ transcript

    async def load(self, unread: Sequence[Redirect] = ()) -> None:
        """Rebuild from the store; queue supervisor messages the transcript does not hold yet."""
        rows = await self.store.transcript(self.name)
        self.messages = [{"role": r.role, "content": r.content} for r in rows if not r.role.startswith("archived:")]
        self.step = max((r.step for r in rows), default=0)
        if not rows:
            content = start_message(self.agent)
            await self.store.append_messages(self.name, 0, [("user", content)])
            self.messages = [{"role": "user", "content": content}]
        row = await self.store.agent(self.name)
        self.status = self._stored = row.status if row else None
        self.delivered = await self.store.delivered(self.name)
        self.control.inbox[:0] = [r for r in unread if r.command_id not in self.delivered]

    def request(self) -> ModelRequest:
        """The next model call, from the committed transcript."""
        return ModelRequest(
            agent=self.name,
            model=self.agent.model,
            system=self.system,
            messages=merged(self.messages),
            tools=self.tools,
            max_tokens=self.max_tokens,
        )

    # ------------------------------------------------------------ the loop

    async def run(self) -> AgentStatus:
        """Drive the agent until it finishes, stops or fails; returns its final status."""
        ending: Ending = ("error", "")
        watchdog: asyncio.Task[None] | None = None
        try:
            await self.budget.load()
            if self.snapshots is not None:
                await self.snapshots.start(self.step)
            watchdog = self._start_watchdog()
            while True:
                ended = await self._checkpoint() or await self._step()
                if ended:
                    ending = ended
                    break
        except asyncio.CancelledError:
            ending = ("stopped", "cancelled")
            raise
        except AarError as exc:
            ending = ("error", str(exc))
            self.store.emit(self.name, ErrorRaised(message=str(exc), where="agent"))
        except Exception as exc:
            log.exception("%s: agent loop failed", self.name)
            ending = ("error", f"{type(exc).__name__}: {exc}")
            self.store.emit(self.name, ErrorRaised(message=ending[1], where="agent"))
        finally:
            self.control.ended = True
            if watchdog is not None:
                watchdog.cancel()
            for cleanup in (self.budget.save, self.sandbox.close):
                try:
                    await cleanup()
                except Exception:  # ending the agent must not fail on its way out
                    log.exception("%s: %s failed", self.name, cleanup.__qualname__)
            await self._set_status(*ending)
        return ending[0]

    async def _checkpoint(self) -> Ending | None:
        """Between steps: stop, budgets, a question waiting for its answer, pause. An ending, or None to go on."""
        if self.control.stopping:
            return await self._stopped()
        over = await self.budget.check(self.step - self.base_step)
        if over is not None:
            return await self._over(over)
        if self.control.asking is not None:
            await self._set_status("paused", f"waiting for the supervisor's answer ({self.control.asking})")
            if await self.control.wait_answered():
                return await self._stopped()
            await self._set_status("idle", "answered")
        if self.control.paused:
            await self._set_status("paused", self.control.pause_reason or "by the supervisor")
            if not await self.control.wait_running():
                return await self._stopped()
            await self._set_status("idle", "resumed")
        return None

    async def _step(self) -> Ending | None:
        await self._deliver_redirects()
        await self._compact_if_full()
        step = self.step + 1
        await self._set_status("thinking")
        try:
            response = await self._call_model(self.request(), step)
        except ContextOverflow:
            if not isinstance(self.backend, SupportsCompaction):
                raise
            await self._compact()
            response = await self._call_model(self.request(), step)
        if response is None:
            return await self._stopped()
        content = response.content or [{"type": "text", "text": "(empty reply)"}]
        results: list[dict[str, Any]] = []
        finished: str | None = None
        submitted = False
        for block in content:
            if block.get("type") == "tool_use":
                result = await self._run_tool(block, step)
                results.append(_result_block(block["id"], result))
                submitted = submitted or (block.get("name") in SUBMIT_TOOLS and not result.is_error)
                if result.finish and not result.is_error:
                    finished = str(block.get("input", {}).get("summary", ""))
        follow = results or [
            {"type": "text", "text": CUT_OFF_TEXT if response.stop_reason == "max_tokens" else CONTINUE_TEXT}
        ]
        u = response.usage
        # Committed with the step, in its transaction: the agents table's spend and the agent.step events agree
        # whenever the daemon dies.
        completed = AgentStepCompleted(
            step=step,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cache_read_tokens=u.cache_read_tokens,
            cache_write_tokens=u.cache_write_tokens,
            cost_usd=response.cost_usd,
        )
        while True:
            try:
                await self.store.append_step(self.name, step, [("assistant", content), ("user", follow)], completed)
                break
            except Exception as exc:  # a full disk: the step waits for space and commits then, whole
                if not is_disk_full(exc):
                    raise
                await self.ctx.disk.wait_for_space(f"{self.name}'s step {step}", exc)
        self.messages += [{"role": "assistant", "content": content}, {"role": "user", "content": follow}]
        self.step = step
        self._last_usage = u
        if self.snapshots is not None:
            await self.snapshots.after_step(step, submitted=submitted)
        if finished is not None:
            return ("finished", finished[:300])
        return None

    async def _call_model(self, request: ModelRequest, step: int) -> ModelResponse | None:
        """The model's reply, its text streamed as events; None when a stop came first."""

        def emit(_: Hashable, text: str) -> None:
            self.store.emit(self.name, ModelText(step=step, text=text))

        texts = Coalescer(emit)

        async def on_text(chunk: str) -> None:
            texts.add(None, chunk)

        call = asyncio.ensure_future(self.backend.respond(request, on_text))
        stop = asyncio.ensure_future(self.control.wait_stopping())
        try:
            await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await call
            texts.flush()
        return None if call.cancelled() else call.result()

    async def _run_tool(self, block: dict[str, Any], step: int) -> ToolResult:
        call_id, tool = str(block["id"]), str(block["name"])
        raw = block.get("input", {})
        shown = raw if isinstance(raw, dict) else {"input": raw}
        self.store.emit(self.name, ToolCalled(step=step, call_id=call_id, tool=tool, input=shown))
        result = await self._approved_result(call_id, tool, shown)
        if result is None:
            await self._set_status("running_tool", tool, store=self.toolbox.is_slow(tool))
            self.control.interrupted.clear()
            call = CallContext(
                agent=self.name,
                step=step,
                call_id=call_id,
                store=self.store,
                config=self.ctx.config,
                sandbox=self.sandbox,
                control=self.control,
                disk=self.ctx.disk,
            )
            result = await self.toolbox.call(tool, raw, call)
        model_text, truncated = for_model(result.output)
        result.output, full = model_text, result.output
        self.store.emit(
            self.name,
            ToolReturned(
                step=step,
                call_id=call_id,
                tool=tool,
                ok=not result.is_error,
                output=full,
                truncated=truncated,
            ),
        )
        return result

    def _stopping_result(self) -> ToolResult | None:
        """The error result that replaces a tool call while the agent is stopping; None otherwise."""
        if self.control.stopping:
            return ToolResult(f"not run: the agent is stopping ({self.control.stop_reason})", is_error=True)
        return None

    async def _approved_result(self, call_id: str, tool: str, shown: dict[str, Any]) -> ToolResult | None:
        """None when the call may run; else the error result that replaces it (stopping, denied)."""
        if (stopping := self._stopping_result()) is not None:
            return stopping
        if not self.control.approval:
            return None
        self.store.emit(self.name, ApprovalRequested(call_id=call_id, tool=tool, input=shown))
        await self._set_status("waiting_approval", f"{tool} {call_id}")
        decision = await self.control.wait_approval(call_id)
        if decision.approved:
            return None
        if (stopping := self._stopping_result()) is not None:
            return stopping
        reason = decision.reason.strip()
        return ToolResult(f"not run: denied by the supervisor{f': {reason}' if reason else ''}", is_error=True)

    # ------------------------------------------------------------ supervisor messages and compaction

    async def _deliver_redirects(self) -> None:
        """Append the supervisor messages waiting, each once: a command applied again after a crash (its
        ``applied`` mark was lost, its delivery was not) is not read twice."""
        redirects = [r for r in self.control.take_inbox() if r.command_id not in self.delivered]
        redirects = list({r.command_id: r for r in redirects}.values())
        if not redirects:
            return
        content = [{"type": "text", "text": r.message_text()} for r in redirects]
        await self.store.deliver(self.name, self.step, content, [r.command_id for r in redirects])
        self.delivered.update(r.command_id for r in redirects)
        self.messages.append({"role": "user", "content": content})

    async def _compact_if_full(self) -> None:
        backend, usage = self.backend, self._last_usage
        if isinstance(backend, SupportsCompaction) and usage is not None and backend.needs_compaction(usage):
            await self._compact()

    async def _compact(self) -> None:
        assert isinstance(self.backend, SupportsCompaction)
        await self._set_status("thinking", "compacting the transcript")
        messages = await self.backend.compact(self.request())
        await self.store.replace_transcript(self.name, self.step, [(m["role"], m["content"]) for m in messages])
        self.messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        self._last_usage = None

    # ------------------------------------------------------------ status

    def _start_watchdog(self) -> asyncio.Task[None] | None:
        remaining = self.budget.wall_remaining()
        if remaining is None:
            return None

        async def watch() -> None:
            left: float | None = remaining
            while left is not None and left > 0:  # the supervisor may raise (or drop) the budget meanwhile
                await self.budget.clock.sleep(left)
                await self.budget.refresh()
                left = self.budget.wall_remaining()
            if left is not None:
                await self.control.request_stop("budget", "wall-clock budget reached")

        return asyncio.create_task(watch(), name=f"{self.name}-wall-clock")

    async def _stopped(self) -> Ending:
        if self.control.stop_kind == "budget":
            over = await self.budget.check(self.step - self.base_step)
            if over is not None:
                return await self._over(over)
        return ("stopped", self.control.stop_reason)

    async def _over(self, over: Overrun) -> Ending:
        if self.status != over.status:
            dearest = await self.budget.dearest(over.limit)
            self.store.emit(self.name, BudgetExceeded(limit=over.limit, used=over.used, cap=over.cap, dearest=dearest))
        return (over.status, over.describe())

    async def going_on(self, why: str) -> None:
        """Started again after it had ended (a raised budget): idle until its first step, so its row no longer
        says why it ended once the supervisor is told it goes on."""
        await self._set_status("idle", why)

    async def _set_status(self, status: AgentStatus, detail: str = "", *, store: bool = True) -> None:
        """Announce a status (an event, if it changed or has a detail) and keep the agents row up to date."""
        if store and status != self._stored:
            await self.store.update_agent(self.name, status=status)
            self._stored = status
        if status == self.status and not detail:
            return
        self.status = status
        self.store.emit(self.name, AgentStatusChanged(status=status, detail=detail))


def _result_block(call_id: str, result: ToolResult) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": result.output}
    if result.is_error:
        block["is_error"] = True
    return block
