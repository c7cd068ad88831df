"""A real run folder with what ``aar review`` reads: scored methods, a prediction file, a transfer score, a
monitor's decision and a checked forum claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aar.config import load_config
from aar.eval_jobs import JobStats
from aar.events import MonitorDecided
from aar.runs import create_run
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, PostClaim, RunStore
from tests.support.clock import FakeClock

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"
THROUGHPUT = JobStats(
    examples=4000, examples_per_s=812, tokens_per_s=41_200, padding_share=0.09, peak_memory_mb=1229, memory_kind="cuda"
)
CANARY = {"canary_agreement": 0.93, "canary_moved_per_seed": [0.011, 0.02], "seed_moved": 0.031}


async def scored_method(
    store: RunStore,
    clock: FakeClock,
    agent: str,
    label: str,
    score: tuple[float, float, float],
    *,
    flags: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    device_s: float = 60.0,
    stats: JobStats | None = None,
) -> int:
    """A method submission of ``agent``, verified on ``seeds`` with ``score`` (PGR, CI low, CI high) by a job that
    took ``device_s`` on ``cuda:0``."""
    sub = await store.add_submission(agent, "method", {"filename": label, "source": "x"}, label=label)
    job = await store.enqueue_job("method", {}, submission_id=sub)
    await store.claim_job("worker-0", device="cuda:0")
    clock.advance(device_s)
    await store.update_job(job, status="done", **({"stats": stats} if stats else {}))
    pgr, low, high = score
    await store.add_result(
        job,
        submission_id=sub,
        split="seeds",
        pgr=pgr,
        ci_low=low,
        ci_high=high,
        metrics=metrics or {},
        flags=flags or [],
    )
    await store.update_submission(sub, status="scored")
    return sub


async def transferred(store: RunStore, submission_id: int) -> None:
    """A transfer of ``submission_id`` to ``tilted``: PGR 0.30 [0.2, 0.4], 0.05 [0.01, 0.09] above vanilla."""
    job = await store.enqueue_job("transfer", {}, submission_id=submission_id, status="done")
    vs = {"diff": 0.05, "ci_low": 0.01, "ci_high": 0.09}
    await store.add_result(
        job,
        submission_id=submission_id,
        split=TRANSFER_SPLIT,
        pgr=0.30,
        ci_low=0.2,
        ci_high=0.4,
        metrics={"target": "tilted", "vs_vanilla": vs},
    )


async def review_run(tmp_path: Path, *, label: str = "methods/boot.py", post_title: str = "Result: #2") -> RunPaths:
    """A run (under ``tmp_path``) with: #1 agent-1's method (PGR 0.31), #2 agent-2's method ``label`` (PGR 0.45,
    canary metrics, per-seed accuracies, flagged ``probe``, transferred to ``tilted``), #3 agent-2's prediction
    file (feedback PGR 0.2); a monitor paused agent-2 once; agent-2's post ``post_title`` claims #2 (one claim
    verified, one contradicted)."""
    config = load_config(DEMO, [f"run.runs_dir={json.dumps(str(tmp_path))}"])
    paths = await create_run(config)
    clock = FakeClock()
    async with await RunStore.open(paths.db, clock=clock) as store:
        for name in ("agent-1", "agent-2"):
            await store.register_agent(name, backend="scripted", model="m", direction="d")
        await scored_method(store, clock, "agent-1", "methods/filter.py", (0.31, 0.2, 0.42))
        per_seed = [{"seed": 0, "acc_transfer": 0.812, "seconds": 1.0}, {"seed": 1, "acc_transfer": 0.809}]
        second = await scored_method(
            store,
            clock,
            "agent-2",
            label,
            (0.45, 0.40, 0.50),
            flags=["review"],
            metrics={"per_seed": per_seed, **CANARY},
            device_s=1800,
            stats=THROUGHPUT,
        )
        await store.update_submission(second, flags=["probe"])
        await transferred(store, second)
        preds = await store.add_submission("agent-2", "predictions", {"predictions": [0, 1]}, label="preds.json")
        job = await store.enqueue_job("predictions", {}, submission_id=preds, status="done")
        await store.add_result(job, submission_id=preds, split="feedback", pgr=0.2, ci_low=0.1, ci_high=0.3, metrics={})
        await store.append(
            "agent-2",
            MonitorDecided(monitor="builtin", rule="label_hunting", action="pause", reason="read heldout files"),
        )
        post = await store.add_post("agent-2", post_title, "bootstrapping gets PGR 0.45, maybe 0.9")
        claims = [
            PostClaim(metric="pgr", value=0.45, claim="PGR 0.45", verdict="verified", submission_id=second),
            PostClaim(metric="pgr", value=0.9, claim="0.9", verdict="contradicted"),
        ]
        await store.set_claims(post, claims)
    return paths
