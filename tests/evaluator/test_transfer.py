"""Transfer through the real worker and sandbox: a verified method re-run on another toy variant scores what
`aar eval` scores for it there, and a method in a transfer job reads no held-out label of any task."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, RunStore
from aar_app.compare_cli import gather
from aar_app.transfer_cli import transfer
from evaluator.daemon.cli import evaluate, parse
from tests.evaluator.helpers import prepared_run
from tests.evaluator.test_verify import SNOOP
from tests.support import eventually

pytestmark = pytest.mark.slow  # the evaluator worker trains and runs methods in sandboxes

TARGET = {"name": "classic", "task": {"name": "toy", "variant": "classic", "size": 600}, "seeds": 2}
METHOD = (
    "from evaluator.compute.methods import confidence\n\n\ndef run(ctx):\n    return confidence.run(ctx, epochs=4)\n"
)


@pytest.fixture
async def run() -> AsyncIterator[tuple[RunPaths, RunStore]]:
    async with prepared_run(
        "test-transfer",
        evaluator={"seeds": 1},
        task={"size": 600},
        sandbox={"backend": "local"},
        transfer={"targets": [TARGET]},
    ) as paths_and_store:
        yield paths_and_store


async def _verified(store: RunStore, source: str) -> int:
    """A method submission, verified on the home task as the service would."""
    sid = await store.add_submission("agent-1", "method", {"filename": "m.py", "source": source}, label="m.py")
    job_id = await store.enqueue_job(
        "method", {"submission_id": sid, "filename": "m.py", "source": source}, submission_id=sid
    )
    await _settled(store, job_id)
    return sid


async def _settled(store: RunStore, job_id: int) -> None:
    async def settled() -> bool:
        job = await store.job(job_id)
        return job is not None and job.status in ("done", "failed")

    await eventually(settled, timeout=200, what=f"job {job_id}", interval=0.1)


async def test_a_transferred_method_scores_what_aar_eval_scores_on_that_task(
    run: tuple[RunPaths, RunStore], tmp_path: Path
) -> None:
    paths, store = run
    target = paths.evaluator_dir / "targets" / "classic"
    target.mkdir(parents=True)
    (target / "secret.json").write_text(json.dumps({"data_seed": 0}))  # aar eval's data, for the comparison
    baselines = await store.enqueue_job("baselines", {"seeds": [0]})
    await _settled(store, baselines)
    sid = await _verified(store, METHOD)

    (planned,), _ = await transfer(paths, submission=sid)
    await _settled(store, planned.job_id)
    job = await store.job(planned.job_id)
    assert job is not None and job.status == "done", job.error if job else None
    (result,) = await store.results(split=TRANSFER_SPLIT)
    assert (result.target, result.submission_id, result.job_id) == ("classic", sid, planned.job_id)
    assert result.metrics["target_seeds"] == [0, 1] and result.metrics["sandbox"].startswith("local (")
    assert sorted(f.name for f in (target / "verify" / str(sid)).iterdir()) == ["seed0.json", "seed1.json"]
    assert not (paths.evaluator_dir / "verify" / str(sid) / "seed1.json").exists(), "the home task's outputs stay"

    method = tmp_path / "m.py"
    method.write_text(METHOD)
    args = parse(["--task", "toy", "--variant", "classic", "--size", "600", "--seeds", "2", "--method", str(method)])
    args.no_cache = True
    (by_hand,) = evaluate(args)["methods"]
    assert [s["acc_transfer"] for s in result.metrics["per_seed"]] == by_hand["acc_transfer_per_seed"]
    assert result.pgr == pytest.approx(by_hand["pgr"], abs=1e-9)
    vs = result.metrics["vs_vanilla"]
    assert vs["diff"] == pytest.approx(by_hand["vs_vanilla"]["difference"], abs=1e-9)
    assert vs["ci_low"] <= vs["diff"] <= vs["ci_high"]
    assert [(r.split, r.submission_id) for r in await store.leaderboard()] == [("seeds", sid)], "home task only"

    # aar compare: against itself, zero at every seed; against vanilla, the interval the scores carry.
    (home,) = await store.results(split="seeds")
    _, _, itself, _ = await gather(paths, str(sid), str(sid))
    assert [c.scope for c in itself] == ["feedback", "classic"]
    assert all(r.diff == 0 for c in itself for r in c.rows) and all(c.diff == (0.0, 0.0, 0.0) for c in itself)
    _, _, against, notes = await gather(paths, str(sid), "vanilla")
    by_scope = {c.scope: c for c in against}
    for scope, row in (("feedback", home), ("classic", result)):
        expected = row.metrics["vs_vanilla"]
        assert by_scope[scope].diff == pytest.approx((expected["diff"], expected["ci_low"], expected["ci_high"]))
        assert by_scope[scope].pgr_a[0] == pytest.approx(row.pgr)
    assert by_scope["classic"].pgr_b[0] == pytest.approx(result.metrics["vanilla_pgr"])
    assert notes == ["final: not scored yet (`aar report RUN --final` scores it, once)"]


async def test_a_transfer_job_reads_no_held_out_label_of_any_task(run: tuple[RunPaths, RunStore]) -> None:
    paths, store = run
    target_dir = paths.evaluator_dir / "targets" / "classic"
    heldouts = [paths.evaluator_dir / "heldout", target_dir / "heldout"]
    names = [str(h / f"{split}.json") for h in heldouts for split in ("final", "feedback", "train_unlabel")]
    snoop = await store.add_submission("agent-2", "method", {"filename": "s.py", "source": "x"})
    job_id = await store.enqueue_job(
        "transfer",
        {
            "submission_id": snoop,
            "target": "classic",
            "filename": "s.py",
            "source": SNOOP.format(targets=[*names, str(target_dir / "secret.json"), str(paths.db)]),
            "seeds": [0],
        },
        submission_id=snoop,
    )
    await _settled(store, job_id)
    job = await store.job(job_id)
    assert job is not None and job.status == "done", job.error if job else None
    assert all(Path(n).exists() for n in names), "the job prepared its target before the method ran"
    assert not list(paths.workspaces.iterdir()), "the verification workspace is removed afterwards"
