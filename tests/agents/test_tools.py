"""Tools through the real loop: bad calls become tool errors, huge output is cut for the model only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aar.events import SandboxOutput, ToolReturned
from agents.backend import ModelRequest
from agents.team import run_team
from agents.tools.base import MODEL_OUTPUT_CHARS, ToolError
from agents.tools.submit import coarse, format_leaderboard, parse_predictions
from tests.agents.helpers import (
    Playbook,
    Policy,
    config,
    events,
    factory,
    last_results,
    run_context,
    tool,
    turns_of,
)
from tests.support import eventually


def two_turns(first: list[dict[str, Any]]) -> tuple[Policy, list[dict[str, Any]]]:
    """A policy that makes ``first`` calls, then finishes; the results of ``first`` land in ``seen``."""
    seen: list[dict[str, Any]] = []

    def policy(request: ModelRequest) -> list[dict[str, Any]]:
        if turns_of(request) == 0:
            return first
        seen.extend(last_results(request))
        return [tool("finish", "end", summary="done")]

    return policy, seen


async def run_calls(
    tmp_path: Path, calls: list[dict[str, Any]], **sections: Any
) -> tuple[dict[str, dict[str, Any]], Any]:
    policy, seen = two_turns(calls)
    async with run_context(tmp_path, config(**sections)) as ctx:
        await run_team(ctx, backend_factory=factory(Playbook(policy)))
        agent = await ctx.store.agent("agent-1")
        returned = await events(ctx.store, ToolReturned)
        outputs = await events(ctx.store, SandboxOutput)
    assert agent is not None and agent.status == "finished" and agent.steps == 2, "the loop went on to finish"
    return {r["tool_use_id"]: r for r in seen}, (returned, outputs, ctx.paths)


async def test_malformed_unknown_and_failing_calls_are_tool_errors(tmp_path: Path) -> None:
    results, _ = await run_calls(
        tmp_path,
        [
            tool("bash", "missing"),
            tool("bash", "extra", command="true", shell="zsh"),
            tool("teleport", "unknown", where="mars"),
            {"type": "tool_use", "id": "badjson", "name": "bash", "input": {"_invalid_json": '{"command": ls'}},
            tool("read_file", "nofile", path="nope.txt"),
            tool("read_file", "escape", path="../../run.db"),
            tool("forum_post", "noparent", title="re", body="x", reply_to=99),
            tool("bash", "fails", command="exit 3"),
        ],
    )
    assert all(r.get("is_error") is True for r in results.values()), results
    assert "command: Field required" in results["missing"]["content"]
    assert "shell: unknown field" in results["extra"]["content"]
    assert "unknown tool 'teleport'" in results["unknown"]["content"] and "bash" in results["unknown"]["content"]
    assert "not a JSON object" in results["badjson"]["content"] and "command" in results["badjson"]["content"]
    assert "no such file" in results["nofile"]["content"]
    assert "outside the workspace" in results["escape"]["content"]
    assert "no post #99" in results["noparent"]["content"]
    assert results["fails"]["content"].startswith("exit code 3")


async def test_huge_output_is_cut_for_the_model_and_kept_whole_in_the_store(tmp_path: Path) -> None:
    command = "python -c \"import sys; sys.stdout.write('a' * 100000 + '\\nEND\\n')\""
    results, (returned, outputs, _) = await run_calls(tmp_path, [tool("bash", "big", command=command)])
    seen = results["big"]["content"]
    assert len(seen) < MODEL_OUTPUT_CHARS + 400 and "characters omitted" in seen and seen.rstrip().endswith("END")
    event = next(e for e in returned if e.payload.call_id == "big")
    assert event.payload.truncated is True and len(event.payload.output) > 100_000
    streamed = "".join(e.payload.text for e in outputs if e.payload.call_id == "big")
    assert streamed == "a" * 100000 + "\nEND\n"
    assert len(outputs) < 30, "output lines are coalesced into few events"


async def test_file_tools_write_read_and_edit_in_the_workspace(tmp_path: Path) -> None:
    results, (_, _, paths) = await run_calls(
        tmp_path,
        [
            tool("write_file", "w", path="notes/a.txt", content="alpha\nbeta\nbeta\n"),
            tool("edit_file", "ambiguous", path="notes/a.txt", old="beta", new="gamma"),
            tool("edit_file", "e", path="notes/a.txt", old="alpha", new="ALPHA"),
            tool("edit_file", "all", path="notes/a.txt", old="beta", new="b", replace_all=True),
            tool("read_file", "r", path="notes/a.txt", start_line=2),
        ],
    )
    assert results["w"]["content"] == "wrote 16 bytes (3 lines) to notes/a.txt"
    assert results["ambiguous"]["is_error"] and "occurs 2 times" in results["ambiguous"]["content"]
    assert "is_error" not in results["e"] and "is_error" not in results["all"]
    assert results["r"]["content"] == "     2\tb\n     3\tb\n[lines 2-3 of 3]"
    assert (paths.workspace("agent-1") / "notes/a.txt").read_text() == "ALPHA\nb\nb\n"


async def test_forum_tools_post_reply_read_and_search(tmp_path: Path) -> None:
    results, _ = await run_calls(
        tmp_path,
        [
            tool("forum_post", "p1", title="Claim: filtering keep=0.7", body="taking it"),
            tool("forum_post", "p2", title="Result: filtering keep=0.7", body="PGR 0.31 [0.2, 0.4]", reply_to=1),
            tool("forum_read", "thread", thread=2),
            tool("forum_search", "search", query="filtering"),
            tool("forum_search", "none", query="zebra"),
        ],
    )
    assert results["p1"]["content"] == "posted #1" and results["p2"]["content"] == "posted #2"
    thread = results["thread"]["content"]
    assert thread.index("Claim: filtering") < thread.index('"reply_to": 1') and "PGR 0.31" in thread
    assert "Claim: filtering" in results["search"]["content"]
    assert results["none"]["content"] == "no post matches 'zebra'"


async def test_a_submission_waits_for_the_evaluators_verdict(tmp_path: Path) -> None:
    def policy(request: ModelRequest) -> list[dict[str, Any]]:
        if turns_of(request) == 0:
            return [
                tool("write_file", "w", path="p.json", content="[0, 1, 1]"),
                tool("submit_predictions", "s", path="p.json"),
            ]
        return [tool("finish", "end", summary="done")]

    backend = Playbook(policy)
    async with run_context(tmp_path, config()) as ctx:
        team = asyncio.create_task(run_team(ctx, backend_factory=factory(backend)))
        subs = await eventually(lambda: ctx.store.submissions())
        assert (
            subs[0].payload == {"predictions": [0, 1, 1]} and subs[0].status == "queued" and subs[0].label == "p.json"
        )
        await ctx.store.update_submission(
            subs[0].id,
            status="rejected",
            flags=["malformed"],
            error="predictions has 3 values; the feedback split has 500",
        )
        await asyncio.wait_for(team, 10)
    result = last_results(backend.requests[1])[1]
    assert result["is_error"] is True
    assert (
        result["content"]
        == "submission #1 was rejected: predictions has 3 values; the feedback split has 500 (flags: malformed)"
    )


async def test_a_step_rerun_after_a_crash_waits_on_its_submission_still_in_flight(tmp_path: Path) -> None:
    """The daemon died while submit_predictions waited; the resumed step calls it again with the same file.
    It waits on the queued submission instead of making a twin that spends the budget twice. (No evaluator
    runs here: each wait runs out, and says which submission it waited on.)"""

    def policy(request: ModelRequest) -> list[dict[str, Any]]:
        if turns_of(request) == 0:
            return [
                tool("write_file", "w", path="p.json", content="[0, 1, 1]"),
                tool("submit_predictions", "s", path="p.json"),
                tool("write_file", "w2", path="q.json", content="[1, 1, 1]"),
                tool("submit_predictions", "s2", path="q.json"),
            ]
        return [tool("finish", "end", summary="done")]

    backend = Playbook(policy)
    async with run_context(tmp_path, config(evaluator={"job_timeout_s": 0.2})) as ctx:
        first = await ctx.store.add_submission("agent-1", "predictions", {"predictions": [0, 1, 1]}, label="p.json")
        other = await ctx.store.add_submission("agent-2", "predictions", {"predictions": [1, 1, 1]}, label="q.json")
        await asyncio.wait_for(run_team(ctx, backend_factory=factory(backend)), 30)
        subs = [(s.id, s.agent, s.label) for s in await ctx.store.submissions()]
    assert subs == [(first, "agent-1", "p.json"), (other, "agent-2", "q.json"), (3, "agent-1", "q.json")], (
        "the same file waited on its twin; another agent's identical file is no twin"
    )
    waited = [str(r["content"]).split(";")[0] for r in last_results(backend.requests[1]) if "recorded" in str(r)]
    assert waited == ["submission #1 recorded", "submission #3 recorded"]


def test_prediction_files_in_every_accepted_shape() -> None:
    assert parse_predictions("[0, 1]", "p") == [0, 1]
    assert parse_predictions('{"predictions": [1, 0]}', "p") == [1, 0]
    assert parse_predictions("1\n0\n1\n", "p") == [1, 0, 1]
    with pytest.raises(ToolError, match="run_method output"):
        parse_predictions('{"feedback": [0.2]}', "p")
    with pytest.raises(ToolError, match="p:2: expected 0 or 1"):
        parse_predictions("1\nyes\n", "p")
    with pytest.raises(ToolError, match="not valid JSON"):
        parse_predictions("[0, 1", "p")


def test_agents_see_pgr_rounded_and_ranked_by_the_rounded_score() -> None:
    from aar.store.rows import LeaderboardRow

    def row(sub: int, pgr: float) -> LeaderboardRow:
        return LeaderboardRow(
            result_id=sub, agent="a", submission_id=sub, kind="predictions", label="", pgr=pgr,
            ci_low=pgr - 0.0512, ci_high=pgr + 0.0498, flags=[], split="feedback", ts=0.0,
        )  # fmt: skip

    # Two files a flip apart (0.004 of PGR) look the same to the agent, in value and in order.
    rows = [row(2, 0.3141), row(1, 0.3104)]
    shown = format_leaderboard(rows, 10, 0.01)
    assert "PGR 0.31 [95% CI 0.26, 0.36]" in shown and "0.314" not in shown and "0.310" not in shown
    assert shown.index('"submission": 1') < shown.index('"submission": 2'), (
        "ties rank by submission, not by hidden digits"
    )
    assert "PGR 0.314 [95% CI 0.263, 0.364]" in format_leaderboard(rows, 10, 0.001), "control: finer when configured"
    assert coarse(0.305, 0.05) == "0.30" and coarse(-0.126, 0.01) == "-0.13"
