"""The scripted researcher decides from the conversation alone: forum claims, supervisor messages, determinism."""

from __future__ import annotations

import json
import time
from typing import Any

from agents.backend import ModelRequest
from agents.scripted import ScriptedBackend
from agents.scripted.ideas import IDEAS, ordered_ideas

DIRECTION = "Confident-label filtering: find the best confidence threshold on the weak labels."


def conversation(*exchanges: tuple[Any, ...], supervisor: str = "") -> list[dict[str, Any]]:
    """A transcript: the start message, then one step per (tool, input, output[, is_error])."""
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": f"Start your research. Your starting direction: {DIRECTION}"}],
        }
    ]
    for n, (name, args, output, *error) in enumerate(exchanges):
        result = {"type": "tool_result", "tool_use_id": f"t{n}", "content": output} | (
            {"is_error": True} if error else {}
        )
        messages.append(
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}", "name": name, "input": args}]}
        )
        messages.append({"role": "user", "content": [result]})
    if supervisor:
        messages[-1]["content"].append({"type": "text", "text": f"[Supervisor message, command #7] {supervisor}"})
    return messages


def request(messages: list[dict[str, Any]]) -> ModelRequest:
    return ModelRequest(agent="agent-3", model="scripted-researcher", system="sys", messages=messages, tools=[])


async def answer(messages: list[dict[str, Any]], pace_s: float = 0.0) -> tuple[dict[str, Any], str, Any]:
    chunks: list[str] = []

    async def on_text(chunk: str) -> None:
        chunks.append(chunk)

    response = await ScriptedBackend(pace_s=pace_s).respond(request(messages), on_text)
    call = next(b for b in response.content if b["type"] == "tool_use")
    return call, "".join(chunks), response


SURVEY: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("forum_read", {"limit": 50}, "the forum is empty"),
    ("leaderboard", {}, "the leaderboard is empty: nothing has been scored yet"),
)


async def test_first_it_reads_the_forum_and_streams_its_reasoning() -> None:
    call, streamed, response = await answer(conversation())
    assert call["name"] == "forum_read" and call["id"] == "toolu_agent-3_0001"
    assert streamed.strip() == response.content[0]["text"] and DIRECTION in streamed
    assert response.cost_usd == 0 and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    again, _, _ = await answer(conversation())
    assert again == call, "the same conversation gets the same answer (a resumed agent continues exactly)"


async def test_it_claims_the_first_idea_of_its_direction_nobody_has_claimed() -> None:
    mine = ordered_ideas("agent-3", DIRECTION)
    assert mine[: len(IDEAS["filtering"])] == IDEAS["filtering"]
    call, _, _ = await answer(conversation(*SURVEY))
    assert call["name"] == "forum_post" and call["input"]["title"] == f"Claim: {mine[0].key}"

    taken = "\n".join(
        json.dumps(r)
        for r in (
            {"forum": "all 2 posts, oldest first"},
            {"post": 1, "author": "agent-1", "time": "10:00:00", "title": f"Claim: {mine[0].key}", "body": "mine"},
            {"post": 2, "author": "agent-2", "time": "10:00:01", "title": f"Claim: {mine[1].key}", "body": "me too"},
        )
    )
    call, _, _ = await answer(conversation(("forum_read", {"limit": 50}, taken), SURVEY[1]))
    assert call["input"]["title"] == f"Claim: {mine[2].key}"


async def test_the_cycle_runs_the_method_then_submits_and_reports_in_the_claims_thread() -> None:
    idea = ordered_ideas("agent-3", DIRECTION)[0]
    claim = ("forum_post", {"title": f"Claim: {idea.key}", "body": "mine"}, "posted #5")
    write, _, _ = await answer(conversation(*SURVEY, claim))
    assert write["name"] == "write_file" and write["input"]["path"] == idea.path
    assert (
        "from evaluator.compute.methods import filtering" in write["input"]["content"]
        and "def run(ctx)" in write["input"]["content"]
    )
    wrote = ("write_file", write["input"], "wrote 120 bytes")
    run, _, _ = await answer(conversation(*SURVEY, claim, wrote))
    assert (
        run["name"] == "bash"
        and f"python -m evaluator.compute.run_method {idea.path} --bundle task --seed 0" in run["input"]["command"]
    )
    ran = ("bash", run["input"], "exit code 0 in 2.0s")
    first, _, _ = await answer(conversation(*SURVEY, claim, wrote, ran))
    assert first["name"] == "submit_predictions"
    scored = (
        "submission #9 (method) scored by the evaluator:\n- seeds split: PGR 0.412 [95% CI 0.350, 0.470], 3 seed(s)"
    )
    steps = (
        *SURVEY,
        claim,
        wrote,
        ran,
        ("submit_predictions", first["input"], "scored"),
        ("submit_method", {"path": idea.path}, scored),
    )
    report, _, _ = await answer(conversation(*steps))
    assert report["name"] == "forum_post" and report["input"]["reply_to"] == 5
    assert (
        report["input"]["title"] == f"Result: {idea.key}: PGR 0.412 [0.350, 0.470]"
        and scored in report["input"]["body"]
    )


async def test_a_failed_run_is_reported_not_submitted() -> None:
    idea = ordered_ideas("agent-3", DIRECTION)[0]
    steps = (
        *SURVEY,
        ("forum_post", {"title": f"Claim: {idea.key}"}, "posted #2"),
        ("write_file", {"path": idea.path}, "wrote"),
    )
    report, _, _ = await answer(
        conversation(*steps, ("bash", {"command": "..."}, "exit code 1\n[stderr]\nTraceback: boom", True))
    )
    assert report["name"] == "forum_post" and report["input"]["title"] == f"Result: {idea.key}: no score"
    assert "boom" in report["input"]["body"]


async def test_supervisor_messages_steer_it() -> None:
    call, streamed, _ = await answer(conversation(*SURVEY, supervisor="Try bootstrapping next."))
    assert call["input"]["title"].startswith("Claim: bootstrap(") and "The supervisor says" in streamed
    call, _, _ = await answer(
        conversation(
            *SURVEY, ("forum_post", {"title": "Result: x: PGR 0.300"}, "posted #3"), supervisor="Please finish now."
        )
    )
    assert call["name"] == "finish" and "x: PGR 0.300" in call["input"]["summary"]


async def test_pacing_spreads_the_text_over_pace_s() -> None:
    start = time.monotonic()
    await answer(conversation(), pace_s=0.3)
    assert time.monotonic() - start >= 0.3
