"""Forum moderation end to end: a command applied by the daemon's poller, then what the agents' tools say.

A quarantined post never reaches an agent (``forum_read`` of the listing and
of the thread, ``forum_search``): it reads one line saying it was withheld and
why; the store keeps the post. A pinned post comes first in every listing.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from aar.commands import RUN_TARGET, Command, InvalidCommand, PinPost, QuarantinePost, RestorePost, parse_command
from aar.store import PostClaim, RunStore
from aar.store.schema import MIGRATIONS, SCHEMA_VERSION
from agents.agent_state import AgentControl
from agents.control import CommandPoller
from agents.tools import CallContext, default_toolbox
from agents.tools.base import ToolResult
from tests.agents.helpers import config, run_context

SECRET = "the held-out file sits at /runs/x/evaluator/heldout/final.json"


async def _tool(ctx_store: RunStore, name: str, **args: object) -> ToolResult:
    call = CallContext(
        agent="agent-2",
        step=1,
        call_id="c",
        store=ctx_store,
        config=config(),
        sandbox=None,  # type: ignore[arg-type]  # the forum tools never touch the sandbox
        control=AgentControl("agent-2"),
    )
    return await default_toolbox().call(name, args, call)


async def _apply(store: RunStore, command: Command) -> tuple[str, str]:
    poller = CommandPoller(store, {"agent-2": AgentControl("agent-2")}, asyncio.Event())
    command_id = await store.issue_command(command, RUN_TARGET)
    await poller.poll_once()
    [row] = [c for c in await store.commands() if c.id == command_id]
    return row.status, row.effect


async def test_a_quarantined_post_never_reaches_an_agent(tmp_path: Path) -> None:
    async with run_context(tmp_path, config()) as ctx:
        store = ctx.store
        first = await store.add_post("agent-1", "Labels found", SECRET)
        reply = await store.add_post("agent-3", "Re: labels", "please do not", parent_id=first)
        await store.add_post("agent-3", "Result: filtering", "honest labels work")
        status, effect = await _apply(store, QuarantinePost(post_id=first, reason="points at held-out labels"))
        assert (status, effect) == (
            "applied",
            f"post #{first} withheld from the agents by supervisor: points at held-out labels",
        )
        listing = await _tool(store, "forum_read")
        thread = await _tool(store, "forum_read", thread=reply)
        search = await _tool(store, "forum_search", query="labels")
        kept = await store.post(first)
        withheld = f'{{"post": {first}, "withheld_by_supervisor": "points at held-out labels"}}'
        for result in (listing, thread, search):
            assert not result.is_error and withheld in result.output
            assert "heldout" not in result.output and "Labels found" not in result.output
        assert "please do not" in thread.output and "honest labels work" in search.output
        assert kept is not None and kept.body == SECRET and kept.quarantined

        assert (await _apply(store, RestorePost(post_id=first)))[0] == "applied"
        assert "Labels found" in (await _tool(store, "forum_read")).output
        assert await _apply(store, RestorePost(post_id=99)) == ("rejected", "there is no post #99")


async def test_pinned_posts_are_read_first_and_claims_are_shown(tmp_path: Path) -> None:
    async with run_context(tmp_path, config()) as ctx:
        store = ctx.store
        guide = await store.add_post("supervisor", "Read me", "Submit methods, not prediction files.")
        for n in range(30):
            await store.add_post("agent-1", f"note {n}", "busy")
        claim = await store.add_post("agent-1", "Result", "PGR 0.9")
        await store.set_claims(claim, [PostClaim(metric="pgr", value=0.9, claim="PGR 0.9", verdict="contradicted")])
        before = (await _tool(store, "forum_read", limit=5)).output
        assert "Read me" not in before, "an old post is out of the latest five"
        await _apply(store, PinPost(post_id=guide))
        after = (await _tool(store, "forum_read", limit=5)).output
        head, first, *rest = [json.loads(line) for line in after.splitlines()]
        assert "after 1 pinned (read these first)" in head["forum"]
        assert (first["post"], first["author"], first["pinned_by_supervisor"]) == (guide, "supervisor", True)
        assert first["body"] == "Submit methods, not prediction files."
        [checked] = [r for r in rest if r["post"] == claim]
        assert checked["claims_checked_by_evaluator"] == ["✗ PGR 0.9 matches no result the evaluator showed agent-1"]
        await _apply(store, PinPost(post_id=guide, pinned=False))
        assert "pinned" not in (await _tool(store, "forum_read", limit=5)).output


def test_moderation_commands_say_what_is_missing() -> None:
    with pytest.raises(InvalidCommand, match="quarantine: 'reason' must not be empty"):
        parse_command("quarantine", {"post_id": 3, "reason": "  "})


async def test_migration_keeps_posts_and_adds_moderation(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(MIGRATIONS[0] + MIGRATIONS[1])
        raw.execute("PRAGMA user_version = 2")
        raw.execute("INSERT INTO forum_posts (ts, author, title, body) VALUES (1, 'ann', 'Result', 'PGR 0.3')")
    async with await RunStore.open(db) as store:
        [post] = await store.posts()
        assert (post.status, post.pinned, post.claims, post.moderation) == ("visible", False, [], "")
        assert [p.id for p in await store.search_posts("result")] == [post.id]
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
