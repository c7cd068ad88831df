"""The synthetic run (``tests.tui.synthetic``) with what the review desk reads: agent-1's two verified methods,
the second an edit of the first, with the steps that wrote them, the results it saw and the forum it read,
scores per seed and on a transfer target, canary metrics, a monitor's decision and a post that claims it.
Agent text is hostile throughout: a label, a post title and the source carry markup, ANSI and bidi marks."""

from __future__ import annotations

from pathlib import Path

from aar.eval_jobs import JobStats
from aar.events import MonitorDecided, SubmissionCreated, ToolCalled, ToolReturned
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, PostClaim, RunStore
from tests.support.clock import FakeClock
from tests.support.review import transferred
from tests.tui.synthetic import _pin_timestamps, build_run

LABEL = "methods/[bold]boot.py"
"""A file name that would be bold (and lose its ``[bold]``) if it were markup."""
HOSTILE_LINE = "# [bold red]not markup[/] \x1b[31mred?\x1b[0m \u202eevil"
FIRST = f"{HOSTILE_LINE}\ndef run(ctx):\n    labels = ctx.weak_labels()\n    return ctx.train(labels, epochs=2)\n"
SECOND = FIRST.replace("epochs=2", "epochs=3, bootstrap=True")
THROUGHPUT = JobStats(
    examples=4000, examples_per_s=812, tokens_per_s=41_200, padding_share=0.09, peak_memory_mb=1229, memory_kind="cuda"
)
CANARY = {"canary_agreement": 0.93, "seed_moved": 0.031}
POST_TITLE = "[red]Result[/]: #{sid}"


async def _method(
    store: RunStore, clock: FakeClock, source: str, score: tuple[float, float, float], *, metrics: dict[str, object]
) -> int:
    sid = await store.add_submission("agent-1", "method", {"filename": "boot.py", "source": source}, label=LABEL)
    store.emit("agent-1", SubmissionCreated(submission_id=sid, submission_kind="method"))
    job = await store.enqueue_job("method", {}, submission_id=sid)
    await store.claim_job("worker-0", device="cuda:0")
    clock.advance(900)
    await store.update_job(job, status="done", stats=THROUGHPUT)
    pgr, low, high = score
    await store.add_result(
        job, submission_id=sid, split="seeds", pgr=pgr, ci_low=low, ci_high=high, metrics=dict(metrics), flags=[]
    )
    await store.update_submission(sid, status="scored")
    return sid


async def review_desk_run(root: Path, *, lines: int = 0) -> RunPaths:
    """The run at ``root``; ``lines`` adds that many lines to the second method (a long diff)."""
    paths = await build_run(root, hostile=True)
    clock = FakeClock()
    async with await RunStore.open(paths.db, clock=clock) as store:
        write = {"path": LABEL, "content": FIRST}
        store.emit("agent-1", ToolCalled(step=10, call_id="w-10", tool="write_file", input=write))
        store.emit("agent-1", ToolCalled(step=10, call_id="b-10", tool="bash", input={"command": "ls"}))
        first = await _method(store, clock, FIRST, (0.30, 0.22, 0.38), metrics={})
        output = f"submission #{first} scored: PGR 0.30 [0.22, 0.38]"
        store.emit("agent-1", ToolReturned(step=11, call_id="s-11", tool="submit_method", ok=True, output=output))
        store.emit("agent-1", ToolCalled(step=11, call_id="f-11", tool="forum_read", input={"thread": 1}))
        edit = {"path": LABEL, "old": "epochs=2", "new": "epochs=3, bootstrap=True"}
        store.emit("agent-1", ToolCalled(step=12, call_id="e-12", tool="edit_file", input=edit))
        long_source = SECOND + "".join(f"    step_{i} = {i}  # [i]{i}[/i]\n" for i in range(lines))
        per_seed = [{"seed": 0, "acc_transfer": 0.812}, {"seed": 1, "acc_transfer": 0.809}]
        second = await _method(store, clock, long_source, (0.45, 0.40, 0.50), metrics={"per_seed": per_seed, **CANARY})
        await store.update_submission(second, flags=["review"])
        await transferred(store, second)
        store.emit("agent-1", MonitorDecided(monitor="builtin", rule="probe", action="flag", reason="[b]odd[/b]"))
        post = await store.add_post("agent-1", POST_TITLE.format(sid=second), "bootstrapping gets PGR 0.45")
        claim = PostClaim(metric="pgr", value=0.45, claim="PGR 0.45", verdict="verified", submission_id=second)
        await store.set_claims(post, [claim, PostClaim(metric="pgr", value=0.9, claim="0.9", verdict="contradicted")])
        for step in (10, 11, 12):
            text = f"Step {step}: working on {LABEL}"
            await store.append_messages("agent-1", step, [("assistant", [{"type": "text", "text": text}])])
        await store.flush()
    _pin_timestamps(paths.db)
    return paths
