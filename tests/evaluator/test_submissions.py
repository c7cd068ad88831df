"""Submission intake on a real store: malformed files, the query budget, the rate limit, and the flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aar.config import load_config
from aar.eval_jobs import MethodJob, PredictionsJob
from aar.runtime import RunContext
from aar.store import RunStore
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.service import JobWatcher, intake
from evaluator.daemon.submissions import check_method
from evaluator.daemon.verify import failure_tail
from tests.evaluator.helpers import make_run

N = 200


def _ctx(tmp_path: Path, store: RunStore, **evaluator: object) -> RunContext:
    paths = make_run(tmp_path / "run", evaluator={"rate_limit_per_min": 100, **evaluator})
    return RunContext(paths=paths, config=load_config(paths.config), store=store)


def _preds(seed: int) -> list[int]:
    return [(i * 7 + seed * 13) % 3 % 2 for i in range(N)]


async def _judge(
    ctx: RunContext, agent: str, payload: dict[str, Any], kind: str = "predictions"
) -> tuple[str, list[str], str]:
    sid = await ctx.store.add_submission(agent, kind, payload)
    await intake(ctx, N)
    sub = await ctx.store.submission(sid)
    assert sub is not None
    return sub.status, sub.flags, sub.error


async def test_bad_prediction_files_are_rejected_with_a_clear_error(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store)
    status, flags, error = await _judge(ctx, "a", {"predictions": [0, 1] * 10})
    assert (status, flags) == ("rejected", ["malformed"])
    assert "20 values" in error and f"{N} inputs" in error
    status, flags, error = await _judge(ctx, "a", {"predictions": [0] * (N - 1) + [2]})
    assert status == "rejected" and "must be 0 or 1" in error and f"[{N - 1}]=2" in error
    status, _, error = await _judge(ctx, "a", {"predictions": [True] * N})
    assert status == "rejected" and "must be 0 or 1" in error
    status, _, error = await _judge(ctx, "a", {"preds": [0] * N})
    assert status == "rejected" and '{"predictions"' in error
    assert not await store.jobs(), "nothing malformed reaches the worker"
    assert len(await store.submissions()) == 4, "every submission stays recorded"


async def test_valid_predictions_are_queued_for_the_worker(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store)
    status, flags, _ = await _judge(ctx, "a", {"predictions": _preds(0)})
    assert (status, flags) == ("running", [])
    (job,) = await store.jobs()
    assert job.kind == "predictions" and isinstance(job.spec, PredictionsJob) and job.spec.predictions == _preds(0)
    await store.flush()
    kinds = [e.kind for e in await store.events_after(0)]
    assert "submission.created" in kinds and "eval.job" in kinds


async def test_query_budget_is_per_agent(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store, query_budget=2)
    assert (await _judge(ctx, "a", {"predictions": _preds(0)}))[0] == "running"
    assert (await _judge(ctx, "a", {"predictions": _preds(1)}))[0] == "running"
    status, flags, error = await _judge(ctx, "a", {"predictions": _preds(2)})
    assert status == "rejected" and flags == ["over_budget"] and "query budget" in error
    assert (await _judge(ctx, "b", {"predictions": _preds(2)}))[0] == "running", "another agent has its own budget"


async def test_rate_limit(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store, rate_limit_per_min=2)
    assert (await _judge(ctx, "a", {"predictions": _preds(0)}))[0] == "running"
    assert (await _judge(ctx, "a", {"predictions": _preds(1)}))[0] == "running"
    status, flags, error = await _judge(ctx, "a", {"predictions": _preds(2)})
    assert status == "rejected" and flags == ["rate_limited"] and "2 submissions a minute" in error


async def test_probe_duplicate_and_majority_are_flagged(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store)
    base = _preds(0)
    await _judge(ctx, "a", {"predictions": base})
    probe = list(base)
    probe[5] = 1 - probe[5]
    probe[17] = 1 - probe[17]
    status, flags, _ = await _judge(ctx, "a", {"predictions": probe})
    assert status == "running" and flags == ["probe"]
    _, flags, _ = await _judge(ctx, "b", {"predictions": base})
    assert flags == ["copy of #1 (a, 0 flips)"], "another agent's file is a relation, never this agent's probe"
    _, flags, _ = await _judge(ctx, "b", {"predictions": probe})
    assert flags == ["probe", "copy of #2 (a, 0 flips)"], "two flips from its own file: a probe"
    _, flags, _ = await _judge(ctx, "b", {"predictions": [1] * N})
    assert flags == ["majority"]
    _, flags, _ = await _judge(ctx, "c", {"predictions": _preds(5)})
    assert flags == [], "a genuinely different file is not a probe"


async def test_method_submissions_are_checked_before_they_run(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store)
    status, flags, error = await _judge(ctx, "a", {"filename": "m.py", "source": "def run(ctx):\n  return ("}, "method")
    assert status == "rejected" and flags == ["malformed"] and "m.py:2: syntax error" in error
    status, _, error = await _judge(ctx, "a", {"filename": "m.py", "source": "x = 1\n"}, "method")
    assert status == "rejected" and "defines no top-level run(ctx)" in error
    status, _, _ = await _judge(
        ctx, "a", {"filename": "m.py", "source": "from evaluator.compute.methods.confidence import run\n"}, "method"
    )
    assert status == "running"
    (job,) = await store.jobs()
    assert job.kind == "method" and isinstance(job.spec, MethodJob) and job.spec.seeds == [0, 1, 2]


def test_check_method_accepts_a_plain_run() -> None:
    spec, error = check_method({"filename": "mine.py", "source": "def run(ctx):\n    return ctx.weak_labels\n"})
    assert error == "" and spec == {"filename": "mine.py", "source": "def run(ctx):\n    return ctx.weak_labels\n"}


async def test_methods_have_their_own_budget(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store, method_budget=2, query_budget=1)
    method = {"filename": "m.py", "source": "from evaluator.compute.methods.vanilla import run\n"}
    assert (await _judge(ctx, "a", {"predictions": _preds(0)}))[0] == "running", "the query budget is apart"
    assert (await _judge(ctx, "a", method, "method"))[0] == "running"
    assert (await _judge(ctx, "a", method, "method"))[0] == "running"
    status, flags, error = await _judge(ctx, "a", method, "method")
    assert status == "rejected" and flags == ["over_budget"] and "method budget used: 2" in error
    assert (await _judge(ctx, "b", method, "method"))[0] == "running", "another agent has its own budget"


async def _verified_method(
    ctx: RunContext, agent: str, outputs: list[list[int]], verification_flags: list[str] | None = None
) -> int:
    """A method submission the worker verified: its per-seed outputs on disk, its job done with a result
    that carries ``verification_flags`` (the canary's)."""
    sid = await ctx.store.add_submission(agent, "method", {"filename": "m.py", "source": "def run(ctx): ..."})
    await ctx.store.update_submission(sid, status="running")
    folder = RunFiles(ctx.paths).verify(sid)
    folder.mkdir(parents=True)
    for seed, out in enumerate(outputs):
        (folder / f"seed{seed}.json").write_text(
            json.dumps({"feedback": [0.9 if v else 0.1 for v in out], "final": []})
        )
    job = await ctx.store.enqueue_job("method", {}, submission_id=sid)
    await ctx.store.add_result(
        job,
        submission_id=sid,
        split="seeds",
        pgr=0.4,
        ci_low=0.3,
        ci_high=0.5,
        metrics={},
        flags=verification_flags or [],
    )
    await ctx.store.update_job(job, status="done", progress=1.0)
    return sid


async def test_methods_are_judged_by_their_outputs_like_prediction_files(tmp_path: Path, store: RunStore) -> None:
    ctx = _ctx(tmp_path, store)
    watcher = JobWatcher(store, RunFiles(ctx.paths), N)
    base = _preds(0)
    assert (await _judge(ctx, "a", {"predictions": base}))[0] == "running"
    laundered = [1 - base[0], 1 - base[1], *base[2:]]
    probe = await _verified_method(ctx, "a", [laundered, laundered])
    same = await _verified_method(ctx, "b", [_preds(1), laundered])
    majority = await _verified_method(ctx, "c", [[1] * N])
    honest = await _verified_method(ctx, "c", [_preds(2)])
    await watcher.poll()
    flags = {s.id: s.flags for s in await store.submissions()}
    assert flags[probe] == ["probe"], "a fixed list two flips from an earlier file"
    assert flags[same] == [], "another agent's method may be the same reference method: no flag"
    assert flags[majority] == ["majority"]
    assert flags[honest] == [], "control: outputs far from every earlier one carry no flag"
    # A prediction file is compared with earlier method outputs too.
    status, file_flags, _ = await _judge(ctx, "d", {"predictions": [*laundered[:-1], 1 - laundered[-1]]})
    assert status == "running" and file_flags == [f"copy of #{probe} (a, 1 flip)"], "another agent's: a relation"
    status, file_flags, _ = await _judge(ctx, "a", {"predictions": [*laundered[:-1], 1 - laundered[-1]]})
    assert status == "running" and "probe" in file_flags, "its own method's output, one flip away: a probe"


def _flip(values: list[int], *positions: int) -> list[int]:
    return [1 - v if i in positions else v for i, v in enumerate(values)]


async def test_an_honest_methods_own_prediction_file_is_linked_not_flagged(tmp_path: Path, store: RunStore) -> None:
    """The demo's honest researchers submit a method's feedback predictions first, then the method: its
    seed-0 output is that file. A method that learns from its labels is linked to the file, and is no
    probe however near it comes to earlier outputs (good methods converge near the ceiling)."""
    ctx = _ctx(tmp_path, store)
    watcher = JobWatcher(store, RunFiles(ctx.paths), N)
    file = _preds(0)
    assert (await _judge(ctx, "a", {"predictions": file}))[0] == "running"
    method = await _verified_method(ctx, "a", [file, _flip(file, 3, 9, 40)])
    near = await _verified_method(ctx, "a", [_flip(file, 1, 2), _flip(file, 5, 6, 7)])
    again = await _verified_method(ctx, "a", [file, _flip(file, 3, 9, 40)])
    await watcher.poll()
    subs = {s.id: s for s in await store.submissions()}
    assert (subs[method].flags, subs[method].links) == ([], ["method behind #1"])
    assert subs[near].flags == [], "two flips from earlier outputs, but it learns from its labels: no probe"
    assert subs[again].flags == ["duplicate"], "the same method's outputs resubmitted"
    assert subs[1].links == [], "the file carries no link; the method points to it"


async def test_a_method_that_ignores_its_labels_is_still_a_probe(tmp_path: Path, store: RunStore) -> None:
    """A fixed list two flips from the author's file, seed-varying so its seeds differ, is caught by the canary's
    flag; without that flag the same outputs pass as an honest method (control)."""
    ctx = _ctx(tmp_path, store)
    watcher = JobWatcher(store, RunFiles(ctx.paths), N)
    file = _preds(0)
    assert (await _judge(ctx, "a", {"predictions": file}))[0] == "running"
    outputs = [_flip(file, 1, 2), _flip(file, 4)]
    caught = await _verified_method(ctx, "a", outputs, ["ignores_labels"])
    exact = await _verified_method(ctx, "b", [_preds(1), _preds(1)])
    assert (await _judge(ctx, "b", {"predictions": _preds(1)}))[0] == "running"
    copied = await _verified_method(ctx, "b", [_preds(1), _flip(_preds(1), 8)], ["seed_invariant"])
    await watcher.poll()
    subs = {s.id: s for s in await store.submissions()}
    assert subs[caught].flags == ["probe"] and subs[caught].links == []
    assert subs[exact].flags == [], "seed-invariant by its 0/1 outputs, but nothing of b's came before it"
    assert subs[copied].flags == ["duplicate"] and subs[copied].links == [f"method behind #{copied - 1}"]


def test_a_failed_runs_error_text_is_its_own_tail_with_label_runs_redacted() -> None:
    labels = json.dumps([1, 0] * 40)
    output = "Traceback ...\n" + "x" * 5000 + "\nfound " + labels + "\nRuntimeError: boom 2026\n"
    text = failure_tail(output)
    assert len(text) <= 400 and text.endswith("RuntimeError: boom 2026") and "[0/1 run redacted]" in text
    assert "1, 0, 1, 0" not in text and "0,1,1,0,0,1,0,1,1,1,0,0,1,0,1,1,0" not in failure_tail(
        "0,1,1,0,0,1,0,1,1,1,0,0,1,0,1,1,0"
    )
