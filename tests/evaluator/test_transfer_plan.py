"""Which methods `aar transfer` sends to the targets, what it refuses in one line, and where transfer scores
stay out of (the leaderboard, the agents' results): a real store, no worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aar.config import RunConfig, load_config
from aar.errors import ConfigError
from aar.events import EvalJobChanged, EvalScored
from aar.review import top_methods
from aar.runtime import RunPaths
from aar.store import TRANSFER_SPLIT, RunStore
from aar_app.cli import main as aar_main
from evaluator.daemon.service import JobWatcher
from evaluator.daemon.transfer import TransferRefused, auto_transfer, enqueue_transfers, plan_transfers
from tests.evaluator.helpers import make_run

TARGETS = {
    "top_k": 2,
    "targets": [
        {"name": "classic", "task": {"name": "toy", "variant": "classic", "size": 500}, "seeds": 2},
        {"name": "small", "task": {"name": "toy", "size": 300}},
    ],
}
SOURCE = "from evaluator.compute.methods.vanilla import run\n"


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[tuple[RunPaths, RunStore, RunConfig]]:
    paths = make_run(tmp_path / "run", transfer=TARGETS)
    async with await RunStore.open(paths.db, create=True) as store:
        yield paths, store, load_config(paths.config)


async def _baselines_done(store: RunStore) -> None:
    job = await store.enqueue_job("baselines", {"seeds": [0]})
    await store.update_job(job, status="done")


async def _method(store: RunStore, agent: str, pgr: float, ci_low: float, *, verified: bool = True) -> int:
    sid = await store.add_submission(agent, "method", {"filename": "m.py", "source": SOURCE}, label="m.py")
    job = await store.enqueue_job(
        "method", {"submission_id": sid, "filename": "m.py", "source": SOURCE}, submission_id=sid
    )
    if verified:
        await store.update_job(job, status="done")
        await store.update_submission(sid, status="scored")
        await store.add_result(
            job, submission_id=sid, split="seeds", pgr=pgr, ci_low=ci_low, ci_high=pgr + 0.1, metrics={}
        )
    return sid


async def test_the_top_k_methods_by_pgr_then_ci_go_to_every_target_once(
    run: tuple[RunPaths, RunStore, RunConfig],
) -> None:
    _, store, config = run
    await _baselines_done(store)
    low = await _method(store, "agent-1", 0.40, 0.30)
    tie_wide = await _method(store, "agent-2", 0.60, 0.40)
    tie_tight = await _method(store, "agent-1", 0.60, 0.50)
    predictions = await store.add_submission("agent-2", "predictions", {"predictions": [1, 0]})
    job = await store.enqueue_job("predictions", {"predictions": [1, 0]}, submission_id=predictions)
    await store.add_result(
        job, submission_id=predictions, split="feedback", pgr=0.99, ci_low=0.9, ci_high=1.0, metrics={}
    )

    assert await top_methods(store, 3) == [tie_tight, tie_wide, low], "prediction files never count"
    ids = await plan_transfers(store, config)
    assert ids == [tie_tight, tie_wide], "transfer.top_k = 2"
    planned = await enqueue_transfers(store, config, ids)
    assert [(p.submission_id, p.target, p.new) for p in planned] == [
        (tie_tight, "classic", True),
        (tie_tight, "small", True),
        (tie_wide, "classic", True),
        (tie_wide, "small", True),
    ]
    jobs = {j.id: j for j in await store.jobs()}
    spec = jobs[planned[0].job_id].spec
    assert jobs[planned[0].job_id].kind == "transfer" and jobs[planned[0].job_id].submission_id == tie_tight
    assert spec.model_dump() == {
        "kind": "transfer",
        "submission_id": tie_tight,
        "target": "classic",
        "filename": "m.py",
        "source": SOURCE,
        "seeds": None,
    }

    again = await enqueue_transfers(store, config, ids)
    assert not any(p.new for p in again) and [p.job_id for p in again] == [p.job_id for p in planned]
    await store.update_job(planned[0].job_id, status="failed", error="boom")
    assert await auto_transfer(store, config) == [], "auto leaves a failed job alone"
    retried = await enqueue_transfers(store, config, [tie_tight])
    assert [p.new for p in retried] == [True, False], "a failed one is queued again when asked for by hand"


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        ("no-baselines", {}, "the run's baselines are not finished (job 2 queued): transfer once they are"),
        ("ready", {"submission": 99}, "no submission #99 in this run"),
        ("ready", {"submission": 1}, "submission #1 is a prediction file: there is no method to transfer"),
        ("ready", {"submission": 2}, "submission #2 is not verified (queued): transfer it once it is scored"),
        ("ready", {}, "no verified method to transfer yet: the leaderboard has no scored method"),
    ],
)
async def test_what_cannot_be_transferred_is_one_line(
    run: tuple[RunPaths, RunStore, RunConfig], setup: str, kwargs: dict[str, int], message: str
) -> None:
    _, store, config = run
    await store.add_submission("agent-1", "predictions", {"predictions": [1]})
    await _method(store, "agent-1", 0.5, 0.4, verified=False)
    if setup == "no-baselines":
        await store.enqueue_job("baselines", {"seeds": [0]})
    else:
        await _baselines_done(store)
    with pytest.raises(TransferRefused) as caught:
        await plan_transfers(store, config, **kwargs)
    assert str(caught.value) == message
    assert not [j for j in await store.jobs() if j.kind == "transfer"], "nothing enqueued"


async def test_a_run_without_targets_says_where_to_add_them(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "bare")
    async with await RunStore.open(paths.db, create=True) as store:
        with pytest.raises(TransferRefused, match=r"lists no transfer targets: add \[\[transfer.targets\]\]"):
            await plan_transfers(store, load_config(paths.config))


async def test_transfer_scores_stay_off_the_leaderboard_and_out_of_the_agents_results(
    run: tuple[RunPaths, RunStore, RunConfig],
) -> None:
    _, store, config = run
    await _baselines_done(store)
    sid = await _method(store, "agent-1", 0.5, 0.4)
    (planned, _) = await enqueue_transfers(store, config, [sid])
    await store.add_result(
        planned.job_id,
        submission_id=sid,
        split=TRANSFER_SPLIT,
        pgr=0.9,
        ci_low=0.8,
        ci_high=1.0,
        metrics={"target": "classic"},
    )
    assert [(r.split, r.pgr) for r in await store.leaderboard(include_final=True)] == [("seeds", 0.5)]
    assert [r.split for r in await store.results(submission_id=sid)] == ["seeds"], "what an agent's tools read"
    (transferred,) = await store.results(split=TRANSFER_SPLIT)
    assert transferred.target == "classic" and transferred.pgr == 0.9
    assert [r.target for r in await store.results(submission_id=sid, include_transfer=True)] == ["", "classic"]


def test_the_cli_enqueues_and_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    paths = make_run(tmp_path / "runs" / "r1", transfer=TARGETS)

    async def seed() -> int:
        async with await RunStore.open(paths.db, create=True) as store:
            await _baselines_done(store)
            return await _method(store, "agent-1", 0.5, 0.4)

    sid = asyncio.run(seed())
    runs = ["--runs-dir", str(tmp_path / "runs")]
    assert aar_main(["transfer", "r1", *runs, "--submission", str(sid)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"submission #{sid} on classic: queued as job 3", f"submission #{sid} on small: queued as job 4"]
    assert out[2].startswith("2 new transfer jobs;")
    assert aar_main(["transfer", "r1", *runs, "--submission", "77"]) == 2
    assert capsys.readouterr().err == "aar: error: no submission #77 in this run\n"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"name": "x", "task": {"name": "nope"}}, "transfer.targets.0.task"),
        (
            {"name": "x", "task": {"name": "jsonl", "data_dir": "/no/such", "weak_model": "/w", "strong_model": "/s"}},
            "path does not exist: /no/such",
        ),
        ({"name": "Bad Name", "task": {"name": "toy"}}, "transfer.targets.0.name"),
    ],
)
def test_a_bad_target_is_a_config_error_naming_the_key(target: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"transfer": {"targets": [target]}})
    assert expected in str(caught.value)


def test_target_names_are_unique() -> None:
    same = {"name": "a", "task": {"name": "toy"}}
    with pytest.raises(ConfigError, match="transfer target names must be unique, repeated: a"):
        load_config({"transfer": {"targets": [same, same]}})


async def test_a_transfer_job_reaches_the_supervisor_only_and_never_changes_its_submission(
    run: tuple[RunPaths, RunStore, RunConfig],
) -> None:
    _, store, config = run
    await _baselines_done(store)
    sid = await _method(store, "agent-1", 0.5, 0.4)
    done, failed = await enqueue_transfers(store, config, [sid])
    await store.add_result(
        done.job_id,
        submission_id=sid,
        split=TRANSFER_SPLIT,
        pgr=0.7,
        ci_low=0.6,
        ci_high=0.8,
        metrics={"target": "classic"},
    )
    await store.update_job(done.job_id, status="done", detail="on classic: PGR 0.700")
    await store.update_job(failed.job_id, status="failed", error="JobError: seed 0: the method exited with 1")
    await JobWatcher(store).poll()
    await store.flush()
    ours = (done.job_id, failed.job_id)
    events = [
        (e.agent, e.payload)
        for e in await store.events_after(0)
        if isinstance(e.payload, EvalJobChanged | EvalScored) and e.payload.job_id in ours
    ]
    assert {p.job_id for _, p in events if isinstance(p, EvalJobChanged)} == set(ours)
    assert all(agent is None for agent, _ in events), "the team never sees a target's score"
    scored = [p for _, p in events if isinstance(p, EvalScored)]
    assert [(p.submission_id, p.pgr) for p in scored] == [(sid, 0.7)]
    sub = await store.submission(sid)
    assert sub is not None and (sub.status, sub.error) == ("scored", ""), "neither the failure nor the score touch it"


async def test_auto_transfers_each_method_that_enters_the_top_k_once(run: tuple[RunPaths, RunStore, RunConfig]) -> None:
    _, store, config = run
    assert await auto_transfer(store, config) == [], "nothing before the baselines"
    await _baselines_done(store)
    assert await auto_transfer(store, config) == [], "nothing before a method is scored"
    first = await _method(store, "agent-1", 0.4, 0.3)
    assert [(p.submission_id, p.target) for p in await auto_transfer(store, config)] == [
        (first, "classic"),
        (first, "small"),
    ]
    better = await _method(store, "agent-2", 0.6, 0.5)
    assert {p.submission_id for p in await auto_transfer(store, config)} == {better}, "only the newcomer's jobs"
    assert await auto_transfer(store, config) == []
