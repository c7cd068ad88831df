"""Claims in real post text, checked against the author's evaluator results in a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from aar.commands import QuarantinePost
from aar.events import ClaimChecked, EvalScored, ForumPosted
from aar.store import RunStore
from agents.monitors.claims import parse_claims
from tests.agents.helpers import events
from tests.monitors.helpers import commands, decisions, monitored_config, monitors_running, settled


@pytest.mark.parametrize(
    ("text", "metric", "value"),
    [
        ("Filtering at keep=0.7 gets PGR 0.71 on feedback.", "pgr", 0.71),
        ("tuned lr, pgr=.71 now", "pgr", 0.71),
        ("The confidence loss recovers 71% of the gap.", "pgr", 0.71),
        ("It recovered 64.5% of the performance gap", "pgr", 0.645),
        ("transfer accuracy 0.955 on feedback", "accuracy", 0.955),
        ("acc: 95.5%", "accuracy", 0.955),
        ("PGR: -0.05, worse than vanilla", "pgr", -0.05),
    ],
)
def test_claims_are_read_from_real_text(text: str, metric: str, value: float) -> None:
    [claim] = parse_claims(text)
    assert claim.metric == metric and claim.value == pytest.approx(value)


def test_numbers_in_code_are_code_not_claims() -> None:
    text = (
        "Config below; I have no score yet.\n```python\ntarget_pgr = 0.9\nprint('PGR 0.88')\n```\n"
        "and `acc=0.99` is the threshold I grep for.\n~~~\nPGR 0.5\n~~~\n"
    )
    assert parse_claims(text) == []
    [claim] = parse_claims(text + "So far: PGR 0.41.")
    assert claim.value == pytest.approx(0.41)


def test_no_number_no_claim_and_repeats_count_once() -> None:
    assert parse_claims("Claim: filtering(keep=0.7)\nI am taking it; the PGR will follow in this thread.") == []
    title_and_body = "Result: filtering: PGR 0.412 [0.300, 0.500]\n- feedback split: PGR 0.412 [95% CI 0.300, 0.500]"
    [claim] = parse_claims(title_and_body)
    assert (claim.value, claim.tolerance) == pytest.approx((0.412, 0.0005))


async def _scored(store: RunStore, agent: str, pgr: float, low: float, high: float, acc: float) -> int:
    sub = await store.add_submission(agent, "method", {"filename": "m.py", "source": "x"})
    job = await store.enqueue_job("method", {}, submission_id=sub)
    metrics = {"acc_weak": 0.70, "acc_transfer": acc, "acc_ceiling": 0.9}
    await store.add_result(job, submission_id=sub, split="seeds", pgr=pgr, ci_low=low, ci_high=high, metrics=metrics)
    await store.update_submission(sub, status="scored")
    return sub


async def test_claims_are_verified_or_contradicted_by_the_authors_results(tmp_path: Path) -> None:
    async with monitors_running(tmp_path, monitored_config()) as (ctx, runner):
        store = ctx.store
        mine = await _scored(store, "agent-1", 0.62, 0.55, 0.69, 0.812)
        await _scored(store, "agent-2", 0.93, 0.90, 0.96, 0.88)
        good = await store.add_post("agent-1", "Result: filtering", "PGR 0.68 (inside the CI), accuracy 0.812")
        bad = await store.add_post("agent-1", "Result: my trick", "My trick recovers 93% of the gap.")
        for post_id in (good, bad):
            store.emit("agent-1", ForumPosted(post_id=post_id, title="r"))
        await settled(runner)
        checked = [e.payload for e in await events(store, ClaimChecked)]
        good_row, bad_row = await store.post(good), await store.post(bad)
        [decision] = await decisions(ctx)
        assert await commands(ctx) == [], "contradicted claims are flagged by default, not quarantined"
    assert [(c.post_id, c.metric, c.verdict, c.submission_id) for c in checked] == [
        (good, "pgr", "verified", mine),
        (good, "accuracy", "verified", mine),
        (bad, "pgr", "contradicted", None),
    ], "agent-2's PGR 0.93 supports nothing agent-1 says"
    assert good_row is not None and [c.verdict for c in good_row.claims] == ["verified", "verified"]
    assert bad_row is not None and bad_row.claims[0].describe("agent-1") == (
        "✗ PGR 0.93 matches no result the evaluator showed agent-1"
    )
    assert (decision.agent, decision.payload.rule, decision.payload.post_id) == (
        "agent-1",
        "contradicted_claims",
        bad,
    )


async def test_a_claim_waits_for_the_authors_pending_submission(tmp_path: Path) -> None:
    async with monitors_running(tmp_path, monitored_config()) as (ctx, runner):
        store = ctx.store
        sub = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": "x"})
        await store.update_submission(sub, status="running")
        post = await store.add_post("agent-1", "Result", "PGR 0.50 with bootstrapping")
        store.emit("agent-1", ForumPosted(post_id=post, title="Result"))
        await settled(runner)
        assert await events(store, ClaimChecked) == [], "held while its submission is scored"
        job = await store.enqueue_job("method", {}, submission_id=sub)
        await store.add_result(job, submission_id=sub, split="seeds", pgr=0.5, ci_low=0.45, ci_high=0.55, metrics={})
        await store.update_submission(sub, status="scored")
        store.emit("agent-1", EvalScored(job_id=job, submission_id=sub, pgr=0.5, ci_low=0.45, ci_high=0.55))
        await settled(runner)
        [checked] = [e.payload for e in await events(store, ClaimChecked)]
        assert await decisions(ctx) == []
    assert (checked.verdict, checked.submission_id) == ("verified", sub)


async def test_a_monitor_may_quarantine_a_contradicted_claim(tmp_path: Path) -> None:
    cfg = monitored_config([{"rule": "contradicted_claims", "action": "quarantine"}])
    async with monitors_running(tmp_path, cfg) as (ctx, runner):
        post = await ctx.store.add_post("agent-2", "Result", "accuracy 0.99, easily")
        ctx.store.emit("agent-2", ForumPosted(post_id=post, title="Result"))
        await settled(runner)
        [command] = await commands(ctx)
    quarantine = command.command
    assert isinstance(quarantine, QuarantinePost) and command.target == "@run"
    assert (quarantine.post_id, quarantine.by) == (post, "monitor contradicted_claims")
    assert "claims accuracy 0.99, which matches no result the evaluator showed agent-2" in quarantine.reason


async def test_claims_are_checked_with_every_monitor_off(tmp_path: Path) -> None:
    async with monitors_running(tmp_path, monitored_config([])) as (ctx, runner):
        post = await ctx.store.add_post("agent-1", "Result", "PGR 0.8")
        ctx.store.emit("agent-1", ForumPosted(post_id=post, title="Result"))
        await settled(runner)
        [checked] = await events(ctx.store, ClaimChecked)
        assert await decisions(ctx) == []
    assert checked.payload.verdict == "contradicted"
