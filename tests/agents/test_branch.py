"""Branching an agent from a past step, through the commands table and the real team, store and sandbox: the
branch's first model call holds the parent's transcript up to the step, then the guidance, and nothing after;
its workspace is the snapshot's; the parent goes on unchanged; a stopped and restarted team runs the branch
again from the store; and each refusal is one line that says what can be done instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from aar import snapshots
from aar.commands import Branch, Command, Redirect
from aar.events import AgentBranched, CommandApplied
from aar.runtime import RunContext
from agents.backend import ModelRequest
from agents.branching import GUIDANCE_MARK
from agents.team import run_team
from agents.transcript import merged
from tests.agents.helpers import Playbook, config, events, factory, run_context, tool, turns_of
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)
GUIDANCE = "Drop the file-per-step idea; read the forum instead."


def researcher(request: ModelRequest) -> list[dict[str, Any]]:
    """agent-1 writes ``f<k>.txt`` at its step k (its workspace differs after every step) up to step 6, then
    reads the forum; a branch reads the forum only, so its workspace stays the snapshot's."""
    n = turns_of(request)
    step = n + 1
    if request.agent == "agent-1" and step <= 6:
        return [tool("bash", f"write-{step}", command=f"mkdir -p notes && echo step-{step} > notes/f{step}.txt")]
    return [tool("forum_read", f"{request.agent}-read-{n}", limit=1)]


@asynccontextmanager
async def team(tmp_path: Path, **sections: Any) -> AsyncIterator[tuple[RunContext, Playbook, asyncio.Task[None]]]:
    backend = Playbook(researcher, delay_s=0.02)
    run = {"snapshot_every_min": 0.0001, **sections.pop("run", {})}  # a snapshot after every step
    async with run_context(tmp_path, config(run=run, **sections)) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        try:
            yield ctx, backend, task
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 20)


async def applied(ctx: RunContext, command_id: int) -> tuple[str, str]:
    async def find() -> Any:
        return next((e for e in await events(ctx.store, CommandApplied) if e.payload.command_id == command_id), None)

    event = await eventually(find, what=f"command {command_id} to be applied", timeout=20)
    return event.payload.status, event.payload.effect


async def issue(ctx: RunContext, command: Command, target: str) -> tuple[str, str]:
    return await applied(ctx, await ctx.store.issue_command(command, target))


async def steps_of(ctx: RunContext, agent: str) -> int:
    row = await ctx.store.agent(agent)
    return row.steps if row else 0


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_a_branch_starts_from_the_step_with_the_guidance_and_the_snapshots_workspace(tmp_path: Path) -> None:
    async with team(tmp_path) as (ctx, backend, _):
        await eventually(lambda: steps_of(ctx, "agent-1"), what="agent-1's first step")
        await eventually(lambda: _at_least(ctx, "agent-1", 5), what="agent-1's fifth step", timeout=20)
        status, _ = await issue(ctx, Redirect(text="before the branch"), "*")
        assert status == "applied"
        await eventually(
            lambda: any("before the branch" in str(r.messages) for r in backend.of("agent-1")),
            what="agent-1 to read the broadcast",
        )
        parent_before = [m.model_dump() for m in await ctx.store.transcript("agent-1")]

        status, effect = await issue(ctx, Branch(step=3, guidance=GUIDANCE, tokens=50_000), "agent-1")
        assert status == "applied", effect
        assert effect == "agent-1-b1 branched from agent-1 after step 3 (workspace of step 3); it goes on"
        await eventually(lambda: len(backend.of("agent-1-b1")) >= 1, what="the branch's first model call")

        # Its first call: agent-1's transcript as it stood after step 3, then the guidance; nothing after.
        kept = [m for m in await ctx.store.transcript_as_of("agent-1", 3)]
        assert [m.step for m in kept][-1] == 3 and all(m.step <= 3 for m in kept)
        first = backend.of("agent-1-b1")[0]
        guidance = first.messages[-1]["content"][-1]
        assert guidance["type"] == "text" and guidance["text"].startswith(GUIDANCE_MARK)
        assert guidance["text"].endswith(GUIDANCE)
        expected = merged([{"role": m.role, "content": m.content} for m in kept])
        assert first.messages[:-1] == expected[:-1]
        assert first.messages[-1]["content"][:-1] == expected[-1]["content"]
        said = str(first.messages)
        assert "f3.txt" in said and "f4.txt" not in said and "write-4" not in said
        assert "before the branch" not in said

        # Its workspace: the snapshot of step 3, byte for byte (f1-f3, not f4 or f5).
        (branched,) = await events(ctx.store, AgentBranched)
        assert (branched.agent, branched.payload.parent, branched.payload.step) == ("agent-1-b1", "agent-1", 3)
        restored = tmp_path / "snapshot-3"
        await snapshots.restore(ctx.store, ctx.paths.root, branched.payload.snapshot_id, restored)
        workspace = files(ctx.paths.workspace("agent-1-b1"))
        assert workspace == files(restored)
        assert {k for k in workspace if k.startswith("notes/")} == {"notes/f1.txt", "notes/f2.txt", "notes/f3.txt"}
        assert (await ctx.store.snapshot(branched.payload.snapshot_id)).pinned  # type: ignore[union-attr]

        # Its lineage and budget; the parent's transcript, workspace and requests are untouched.
        row = await ctx.store.agent("agent-1-b1")
        assert row is not None and row.lineage == "agent-1@3"
        made = await ctx.store.branch("agent-1-b1")
        assert made is not None and (made.tokens, made.guidance) == (50_000, GUIDANCE)
        parent_after = [m.model_dump() for m in await ctx.store.transcript("agent-1")]
        assert parent_after[: len(parent_before)] == parent_before
        assert "notes/f5.txt" in files(ctx.paths.workspace("agent-1"))
        later = len(backend.of("agent-1"))
        await eventually(lambda: len(backend.of("agent-1")) > later + 1, what="agent-1 to go on")
        assert all(GUIDANCE not in str(r.messages) for r in backend.of("agent-1"))

        # The broadcast from before the branch is not the branch's; a redirect after it is.
        status, _ = await issue(ctx, Redirect(text="one more thing"), "agent-1-b1")
        assert status == "applied"
        await eventually(
            lambda: any("one more thing" in str(r.messages) for r in backend.of("agent-1-b1")),
            what="the branch to read its redirect",
        )
        assert all("before the branch" not in str(r.messages) for r in backend.of("agent-1-b1"))


async def _at_least(ctx: RunContext, agent: str, steps: int) -> bool:
    return await steps_of(ctx, agent) >= steps


async def test_a_restarted_team_runs_the_branch_again_from_the_store(tmp_path: Path) -> None:
    backend = Playbook(researcher, delay_s=0.02)
    cfg = config(run={"snapshot_every_min": 0.0001})
    async with run_context(tmp_path, cfg) as ctx:
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        await eventually(lambda: _at_least(ctx, "agent-1", 3), what="agent-1's third step", timeout=20)
        status, effect = await issue(ctx, Branch(step=2, guidance=GUIDANCE), "agent-1")
        assert status == "applied", effect
        await eventually(lambda: _at_least(ctx, "agent-1-b1", 2), what="the branch's second step", timeout=20)
        ctx.stop.set()
        await asyncio.wait_for(task, 20)
        kept = [m.model_dump() for m in await ctx.store.transcript("agent-1-b1")]
        steps = await steps_of(ctx, "agent-1-b1")

        ctx.stop.clear()
        again = Playbook(researcher, delay_s=0.02)
        task = asyncio.create_task(run_team(ctx, backend_factory=factory(again)))
        try:
            await eventually(lambda: _at_least(ctx, "agent-1-b1", steps + 2), what="the branch to go on", timeout=20)
        finally:
            ctx.stop.set()
            await asyncio.wait_for(task, 20)
        first = again.of("agent-1-b1")[0]
        assert merged([{"role": m["role"], "content": m["content"]} for m in kept]) == first.messages
        assert len(await ctx.store.branches()) == 1 and len(await events(ctx.store, AgentBranched)) == 1


async def test_each_refusal_is_one_line_that_says_what_can_be(tmp_path: Path) -> None:
    cap = {"dollar_cap": 1.0}
    async with team(tmp_path, run=cap, team={"budget": {"dollars": 0.75}}) as (ctx, _, _task):
        await eventually(lambda: _at_least(ctx, "agent-1", 3), what="agent-1's third step", timeout=20)
        refusals = {
            "past the end": (Branch(step=10_000, guidance="g", dollars=0.1), "agent-1"),
            "no such agent": (Branch(step=1, guidance="g", dollars=0.1), "nobody"),
            "over the cap": (Branch(step=1, guidance="g", dollars=2.0), "agent-1"),
            "no dollar budget": (Branch(step=1, guidance="g"), "agent-1"),
        }
        said = {name: await issue(ctx, command, target) for name, (command, target) in refusals.items()}
        assert all(status == "rejected" for status, _ in said.values()), said
        assert said["past the end"][1].startswith("agent-1 has taken steps up to ")
        assert "no agent named 'nobody'" in said["no such agent"][1]
        assert "more than the run's dollar cap ($1.00) leaves to no agent ($0.25)" in said["over the cap"][1]
        assert "give the branch a dollar budget of at most that" in said["no dollar budget"][1]

        # Pruned: every snapshot at or before step 2 is gone; the line says which steps are left.
        old = [s.id for s in await ctx.store.snapshots(agent="agent-1") if s.step <= 2]
        await ctx.store.delete_snapshots(old)
        status, effect = await issue(ctx, Branch(step=1, guidance="g", dollars=0.1), "agent-1")
        assert status == "rejected"
        assert "were pruned" in effect and "; steps 3 to " in effect and effect.endswith("can be branched from")
        assert all("\n" not in e for _, e in [*said.values(), (status, effect)])
        assert await ctx.store.branches() == []
