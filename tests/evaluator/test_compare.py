"""`aar compare` on files laid out as the evaluator keeps them (a real store and run folder, no worker): the
per-seed table, the paired difference, the escaped source diff, and one line for what cannot be compared."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from aar.config import load_config
from aar.runtime import RunPaths
from aar.store import RunStore
from aar_app.cli import main as aar_main
from evaluator.compute.pipeline import Cache, SeedBaseline, baseline_name
from evaluator.daemon.runfiles import RunFiles
from evaluator.daemon.stats import correct, difference_ci
from tests.evaluator.helpers import make_run

N = 200
HOSTILE = "def run(ctx):\n    return ctx.weak_probs  # \x1b[31mred\x1b[0m \u202etxt.exe\n"


def _lay_out(root: Path) -> tuple[RunPaths, int, int, int]:
    """Two seeds of baselines, two verified methods and a prediction file, as the evaluator leaves them."""
    paths = make_run(root, evaluator={"seeds": 2})
    files = RunFiles(paths)
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 2 * N)
    files.heldout.mkdir(parents=True)
    (files.heldout / "feedback.json").write_text(json.dumps(labels[:N].tolist()))
    (files.heldout / "final.json").write_text(json.dumps(labels[N:].tolist()))

    def noisy(flip: float) -> list[float]:
        flipped: list[float] = np.where(rng.random(2 * N) < flip, 1 - labels, labels).astype(float).tolist()
        return flipped

    task = files.task(load_config(paths.config), create=True)  # draws the run's secret, as prepare does
    cache = Cache(files.cache, task, "cpu")
    for seed in (0, 1):
        baseline = SeedBaseline(
            seed=seed,
            task_key=task.key,
            device="cpu",
            weak=noisy(0.3),
            ceiling=noisy(0.05),
            vanilla=noisy(0.2),
            unsupervised=noisy(0.5),
            seconds={},
        )
        cache.put(baseline_name(seed, files.data_seed()), baseline)

    async def submit() -> tuple[int, int, int]:
        async with await RunStore.open(paths.db, create=True) as store:
            a = await store.add_submission("agent-1", "method", {"filename": "a.py", "source": "def run(ctx): ..."})
            b = await store.add_submission("agent-2", "method", {"filename": "b.py", "source": HOSTILE}, label="b.py")
            p = await store.add_submission("agent-2", "predictions", {"predictions": [0, 1]})
            return a, b, p

    a, b, p = asyncio.run(submit())
    for sid, flip in ((a, 0.1), (b, 0.15)):
        for seed in (0, 1):
            out = files.verify(sid)
            out.mkdir(parents=True, exist_ok=True)
            preds = noisy(flip)
            (out / f"seed{seed}.json").write_text(json.dumps({"feedback": preds[:N], "final": preds[N:]}))
    return paths, a, b, p


def test_a_method_against_itself_differs_by_zero_at_every_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, a, _, _ = _lay_out(tmp_path / "runs" / "r")
    assert aar_main(["compare", "r", str(a), f"#{a}", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    (feedback,) = body["comparisons"]
    assert feedback["scope"] == "feedback" and feedback["seeds"] == [0, 1]
    assert [r["diff"] for r in feedback["rows"]] == [0.0, 0.0] and feedback["diff"] == [0.0, 0.0, 0.0]
    assert body["source_diff"] == []
    assert paths.db.exists()


def test_the_paired_difference_is_the_evaluators_and_the_diff_is_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, a, b, _ = _lay_out(tmp_path / "runs" / "r")
    assert aar_main(["compare", "r", str(a), str(b), "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    files = RunFiles(paths)
    labels = np.array(json.loads((files.heldout / "feedback.json").read_text()))
    baselines = [json.loads(p.read_text()) for p in sorted(files.cache.glob("*/*/baseline-*.json"))]
    assert len(baselines) == 2
    runs = {
        sid: np.array([json.loads((files.verify(sid) / f"seed{s}.json").read_text())["feedback"] for s in (0, 1)])
        for sid in (a, b)
    }
    w, c = (correct(np.array([x[k][:N] for x in baselines]), labels) for k in ("weak", "ceiling"))
    diff = difference_ci(w, c, correct(runs[a], labels), correct(runs[b], labels))
    assert diff is not None
    assert f"A - B {diff[0]:+.3f} [{diff[1]:+.3f}, {diff[2]:+.3f}] (paired 95% CI)" in out
    assert "final: not scored yet" in out
    assert "\x1b" not in out and "\u202e" not in out, "an agent's source reaches the terminal escaped"
    assert "+    return ctx.weak_probs  # \\x1b[31mred" in out


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("99", "no submission #99 in this run"),
        ("3", "submission #3 is a prediction file: only methods have per-seed runs to compare"),
        ("best", "'best': give a submission id (12 or #12) or vanilla"),
    ],
)
def test_what_cannot_be_compared_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str, message: str
) -> None:
    _lay_out(tmp_path / "runs" / "r")
    assert aar_main(["compare", "r", "1", which, "--runs-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err == f"aar: error: {message}\n"
