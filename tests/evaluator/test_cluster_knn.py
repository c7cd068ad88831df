"""The cluster and kNN reference methods: their numpy parts on constructed data, and a run on toy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from evaluator.compute.context import MethodContext, as_test_probs
from evaluator.compute.methods import cluster, knn
from evaluator.compute.pipeline import make_context, public_view
from evaluator.compute.tasks.toy import ToyParams, ToyTask


@pytest.fixture(scope="module")
def toy_ctx() -> MethodContext:
    """A small toy task's context, with the weak labels of a noisy copy of the truth (no weak model trained)."""
    task = ToyTask(ToyParams(size=400, data_seed=0))
    data = task.load()
    y = data["train_unlabel"].labels
    flip = np.random.default_rng(0).random(len(y)) < 0.2
    weak = np.where(flip, 1 - y, y) * 0.8 + 0.1
    return make_context(task, public_view(data), weak, 0, "cpu")


class Recorded:
    """Stands in for ``ctx.fit``: keeps what a method trains on, returns a constant student."""

    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx
        self.calls: list[dict[str, Any]] = []

    def __call__(self, targets: np.ndarray, **kwargs: Any) -> Any:
        self.calls.append({"targets": np.asarray(targets), **kwargs})
        n = len(self.ctx.test_x)
        return type("Constant", (), {"predict_proba": lambda self, x=None: np.full(n, 0.5)})()


def _two_groups(rng: np.random.Generator, n: int = 200) -> np.ndarray:
    """Two tight groups far apart along the first of three features: rows < n // 2 in group 0."""
    x = 0.1 * rng.standard_normal((n, 3))
    x[n // 2 :, 0] += 10.0
    return x


def test_kmeans_finds_two_separated_groups_and_names_them_by_weak_majority() -> None:
    x = _two_groups(np.random.default_rng(1))
    assign, inertia = cluster.kmeans(x, 2, np.random.default_rng(2))
    assert len(set(assign[:100])) == 1 and len(set(assign[100:])) == 1 and assign[0] != assign[100]
    assert inertia < 0.1 * 3 * 200  # within-group spread only
    weak = np.r_[np.ones(100), np.zeros(100)].astype(np.int64)
    weak[:30] = 0  # a minority of wrong weak labels does not change a group's name
    names = cluster.name_clusters(assign, weak, 2)
    assert names[assign[0]] == 1 and names[assign[100]] == 0
    with pytest.raises(ValueError, match="k must be between"):
        cluster.kmeans(x, 0, np.random.default_rng(0))


def test_cluster_predicts_cluster_names_and_uses_weak_labels_only_to_name_them(toy_ctx: MethodContext) -> None:
    preds = cluster.run(toy_ctx)
    assert preds.shape == (len(toy_ctx.test_x),) and set(np.unique(preds)) <= {0.0, 1.0}
    assert np.array_equal(as_test_probs(preds, toy_ctx), preds)
    flipped = cluster.run(replace(toy_ctx, weak_probs=1 - toy_ctx.weak_probs))
    assert np.array_equal(flipped, 1 - preds), "the weak labels name the clusters and do nothing else"
    four = cluster.run(toy_ctx, k=4)
    assert four.shape == preds.shape


def test_cluster_and_knn_read_the_context_embedding_when_there_is_one(
    toy_ctx: MethodContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An embedding that is the weak label itself (train) or its parity with the row (test): k-means must split on it.
    ctx = replace(toy_ctx)
    code = {id(ctx.train_x): ctx.weak_labels[:, None], id(ctx.test_x): (np.arange(len(ctx.test_x)) % 2)[:, None]}
    monkeypatch.setattr(ctx, "embed", lambda x: 5.0 * code[id(x)] + 0.01, raising=False)
    preds = cluster.run(ctx)
    assert np.array_equal(preds, np.arange(len(ctx.test_x)) % 2)
    fit = Recorded(ctx)
    monkeypatch.setattr(ctx, "fit", fit)
    knn.run(ctx, k=5)
    assert np.array_equal(fit.calls[0]["targets"] > 0.5, ctx.weak_labels.astype(bool))


def test_neighbours_leave_the_row_out_agree_with_brute_force_and_span_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 4))
    monkeypatch.setattr(knn, "CHUNK", 7)  # several blocks, the last one short
    for metric in ("euclidean", "cosine"):
        got = knn.neighbours(x, 5, metric)
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        pts = unit if metric == "cosine" else x
        d = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        assert np.array_equal(got, np.argsort(d, axis=1)[:, :5]), metric
        assert not (got == np.arange(50)[:, None]).any()
    with pytest.raises(ValueError, match="k must be between"):
        knn.neighbours(x, 50)
    with pytest.raises(ValueError, match="metric"):
        knn.neighbours(x, 3, "manhattan")  # type: ignore[arg-type]


def test_knn_relabel_pulls_each_target_to_its_neighbours(
    toy_ctx: MethodContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    x = _two_groups(rng)
    weak = np.r_[np.full(100, 0.9), np.full(100, 0.1)]
    weak[[3, 150]] = [0.05, 0.95]  # one wrong, confident weak label in each group
    ctx = replace(toy_ctx, train_x=x.astype(np.float32), weak_probs=weak)
    fit = Recorded(ctx)
    monkeypatch.setattr(ctx, "fit", fit)
    knn.run(ctx, k=10)
    targets = fit.calls[0]["targets"]
    assert targets[3] > 0.8 and targets[150] < 0.2, "a lone wrong label takes its neighbours' mean"
    assert np.all(targets[:100] > 0.8) and np.all(targets[100:] < 0.2)
    assert abs(targets[0] - 0.9) < 0.1, "a right label stays near its own value"


def test_knn_filter_drops_labels_their_neighbours_contradict(
    toy_ctx: MethodContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = _two_groups(np.random.default_rng(5))
    weak = np.r_[np.full(100, 0.9), np.full(100, 0.1)]
    wrong = [3, 40, 150]
    weak[wrong] = 1 - weak[wrong]
    ctx = replace(toy_ctx, train_x=x.astype(np.float32), weak_probs=weak)
    fit = Recorded(ctx)
    monkeypatch.setattr(ctx, "fit", fit)
    knn.run(ctx, mode="filter", k=10)
    kept = fit.calls[0]["idx"]
    assert set(range(200)) - set(kept.tolist()) == set(wrong)
    assert fit.calls[0]["epochs"] == pytest.approx(ctx.recipe.epochs * 200 / 197), "vanilla's number of steps"
    knn.run(ctx, mode="filter", k=10, keep=0.5)
    assert len(fit.calls[1]["idx"]) == 100 and not set(wrong) & set(fit.calls[1]["idx"].tolist())
    with pytest.raises(ValueError, match="keep"):
        knn.run(ctx, mode="filter", keep=0.0)
    with pytest.raises(ValueError, match="mode"):
        knn.run(ctx, mode="smooth")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["relabel", "filter"])
def test_knn_trains_a_student_on_toy(toy_ctx: MethodContext, mode: str) -> None:
    preds = as_test_probs(knn.run(toy_ctx, mode=mode, k=10, epochs=5), toy_ctx)  # type: ignore[arg-type]
    assert preds.shape == (len(toy_ctx.test_x),) and preds.min() >= 0 and preds.max() <= 1
    assert 0.2 < (preds > 0.5).mean() < 0.8, "a trained student, not a constant"
